"""python-socketio's ``json=`` option: a module with the standard library's ``dumps`` and
``loads`` encodes and decodes event and ack payloads instead of orjson (for types only it
knows). Real servers on loopback, python-socketio's client; Flask's ``json=flask.json`` uses
the app's JSON provider."""

from __future__ import annotations

import datetime
import decimal
import json
import types
from typing import Any

import pytest
import socketio

import flask
import socketwire
import socketwire.flask

from .test_async_server_api import WAIT, client, collector, get, running


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


def _default(obj: Any) -> Any:
    if isinstance(obj, Money):
        return {"money": obj.cents}
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


#: a custom JSON module: knows Money and Decimal; numbers with a fraction come in as Decimal
custom_json = types.SimpleNamespace(
    dumps=lambda obj, **kw: json.dumps(obj, default=_default, **kw),
    loads=lambda text, **kw: json.loads(text, parse_float=decimal.Decimal, **kw),
)


def make_server(kind: str) -> Any:
    return (
        socketwire.AsyncServer(json=custom_json)
        if kind == "async"
        else socketwire.Server(json=custom_json)
    )


@pytest.mark.parametrize("kind", ["async", "threads"])
async def test_custom_json_module_encodes_and_decodes_payloads(kind: str) -> None:
    sio = make_server(kind)
    received: list[Any] = []

    @sio.on("price")
    def price(sid: str, data: Any) -> Any:
        received.append(data)
        return Money(250), decimal.Decimal("1.25")

    @sio.on("binary")
    def binary(sid: str, data: Any) -> Any:
        return {"blob": data, "money": Money(1)}

    if kind == "async":

        @sio.on("push")
        async def push(sid: str) -> None:
            await sio.emit("bill", {"total": Money(999)}, to=sid)

    else:

        @sio.on("push")
        def push_sync(sid: str) -> None:
            sio.emit("bill", {"total": Money(999)}, to=sid)

    async with running(sio) as url, client(url) as c:
        bills = collector(c, "bill")
        # the orjson default would refuse Money and Decimal: the custom dumps answers
        assert await c.call("price", {"amount": 1.5}, timeout=WAIT) == ({"money": 250}, "1.25")
        # the custom loads parsed 1.5 as a Decimal
        assert received == [{"amount": decimal.Decimal("1.5")}]
        # binary attachments still travel apart from the custom JSON
        assert await c.call("binary", b"\x00\x01\xff", timeout=WAIT) == {
            "blob": b"\x00\x01\xff",
            "money": {"money": 1},
        }
        await c.emit("push")
        assert await get(bills) == {"total": {"money": 999}}


def test_a_json_option_without_dumps_and_loads_is_refused() -> None:
    with pytest.raises(TypeError, match="dumps"):
        socketwire.AsyncServer(json=object())
    with pytest.raises(TypeError, match="loads"):
        socketwire.Server(json=types.SimpleNamespace(dumps=json.dumps))


@pytest.mark.parametrize("kind", ["async", "threads"])
async def test_an_unencodable_return_value_is_logged_and_the_client_stays(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    sio = socketwire.AsyncServer() if kind == "async" else socketwire.Server()

    @sio.on("price")
    def price(sid: str) -> Any:
        return Money(1)  # orjson cannot encode it and no json= was given

    @sio.on("ok")
    def ok(sid: str) -> str:
        return "still here"

    async with running(sio) as url, client(url) as c, client(url) as other:
        with pytest.raises(socketio.exceptions.TimeoutError):  # no ack can be sent
            await c.call("price", timeout=0.5)
        assert await c.call("ok", timeout=WAIT) == "still here"
        assert await other.call("ok", timeout=WAIT) == "still here"
    assert any(
        "cannot be encoded" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records
    )


def test_flask_json_uses_the_apps_provider() -> None:
    app = flask.Flask(__name__)

    class Provider(flask.json.provider.DefaultJSONProvider):
        @staticmethod
        def default(obj: Any) -> Any:
            if isinstance(obj, Money):
                return f"${obj.cents / 100:.2f}"
            return flask.json.provider.DefaultJSONProvider.default(obj)

    app.json = Provider(app)
    socketio = socketwire.flask.SocketIO(app, json=flask.json)

    @socketio.on("bill")
    def bill(data: Any) -> Any:
        socketwire.flask.emit("total", {"total": Money(1234), "when": data["when"]})
        return datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

    test_client = socketio.test_client(app)
    ack = test_client.emit("bill", {"when": "today"}, callback=True)
    # Flask's provider writes datetimes as HTTP dates (orjson would write ISO 8601)
    assert ack == "Fri, 02 Jan 2026 03:04:05 GMT"
    received = test_client.get_received()
    assert received == [
        {"name": "total", "args": [{"total": "$12.34", "when": "today"}], "namespace": "/"}
    ]
    test_client.disconnect()
