"""python-socketio's documented server API that ported apps rely on, beyond the basics of
test_async_server_api: catch-all class namespaces, the builtin ConnectionRefusedError,
python-engineio's option forms (``ping_interval=(interval, grace)``,
``cors_allowed_origins=['*']``), the ``static_files`` default-file rule,
``socketio_path=None``, ``handle_request`` and the ``Middleware`` alias. Real servers on
loopback, python-socketio's clients."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import uvicorn
from werkzeug.serving import make_server

import socketwire

from .test_async_server_api import HOST, WAIT, client, free_port, running


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` (an ASGIApp or WSGIApp) on the native server."""
    port = free_port()
    server = await socketwire.create_server(app, HOST, port)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def http_get(url: str, **kwargs: Any) -> requests.Response:
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: requests.get(url, timeout=WAIT, **kwargs)
    )


async def test_catch_all_class_namespace_gets_the_namespace_first() -> None:
    sio = socketwire.AsyncServer()
    calls: list[tuple[Any, ...]] = []

    class AnyNamespace(socketwire.AsyncNamespace):
        def on_connect(self, namespace: str, sid: str, environ: Any, auth: Any) -> None:
            calls.append(("connect", namespace, auth))

        async def on_echo(self, namespace: str, sid: str, data: Any) -> list[Any]:
            return [namespace, data]

        def on_disconnect(self, namespace: str, sid: str, reason: str) -> None:
            calls.append(("disconnect", namespace, reason))

    sio.register_namespace(AnyNamespace("*"))
    async with running(sio) as url:
        async with client(url, namespaces=["/", "/shop"], auth={"k": 1}) as c:
            assert await c.call("echo", 5, namespace="/shop", timeout=WAIT) == ["/shop", 5]
            assert await c.call("echo", 6, timeout=WAIT) == ["/", 6]
    assert ("connect", "/shop", {"k": 1}) in calls
    # python-socketio's client may close the transport before its DISCONNECT packets leave
    assert ("disconnect", "/shop", "client disconnect") in calls or (
        "disconnect",
        "/shop",
        "transport close",
    ) in calls


async def test_builtin_connection_refused_error_refuses_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = socketwire.AsyncServer()

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> None:
        raise builtins.ConnectionRefusedError("no")

    errors: asyncio.Queue[Any] = asyncio.Queue()
    async with running(sio) as url:
        c = socketio.AsyncClient(reconnection=False)
        c.on("connect_error", lambda data: errors.put_nowait(data))
        with caplog.at_level(logging.ERROR, logger="socketwire"):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await c.connect(url, transports=["websocket"], wait_timeout=WAIT)
        assert await asyncio.wait_for(errors.get(), WAIT) == {
            "message": "Connection refused by server"
        }
        await c.disconnect()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_engineio_option_forms() -> None:
    """``ping_interval=(interval, grace)`` and ``cors_allowed_origins=['*']``."""
    sio = socketwire.AsyncServer(ping_interval=(2, 3), ping_timeout=4, cors_allowed_origins=["*"])
    sio.on("echo", lambda sid, data: data)
    async with running(sio) as url:
        answer = await http_get(
            f"{url}/socket.io/?EIO=4&transport=polling",
            headers={"Origin": "http://elsewhere.example"},
        )
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "http://elsewhere.example"
        assert answer.text[0] == "0"  # the Engine.IO OPEN packet
        handshake = json.loads(answer.text[1:])
        # the server pings every 2 s; the grace lengthens the wait for an answer
        assert (handshake["pingInterval"], handshake["pingTimeout"]) == (2000, 7000)
        closed = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: requests.post(
                f"{url}/socket.io/?EIO=4&transport=polling&sid={handshake['sid']}",
                data=b"1",
                timeout=WAIT,
            ),
        )
        assert closed.status_code == 200
        async with client(url) as c:
            assert await c.call("echo", "ok", timeout=WAIT) == "ok"


def test_sync_server_takes_the_same_option_forms() -> None:
    sio = socketwire.Server(ping_interval=(25, 5), cors_allowed_origins=["*", "http://a"])
    assert sio.core.engine.ping_interval == 25
    assert sio.core.engine.ping_timeout == 25
    assert sio.core.engine.cors_allowed_origins == "*"


async def test_static_files_default_file_for_directories(tmp_path: Path) -> None:
    public = tmp_path / "public"
    (public / "sub").mkdir(parents=True)
    (public / "image.gif").write_bytes(b"GIF89a")
    (public / "sub" / "image.gif").write_bytes(b"GIF-sub")
    (public / "index.html").write_text("not the default")
    (public / "page.txt").write_text("text")
    static = {
        "/static": str(public),
        "": {"filename": "image.gif", "content_type": "text/plain"},
    }
    app = socketwire.ASGIApp(socketwire.AsyncServer(), static_files=static)
    async with serving(app) as url:
        root = await http_get(f"{url}/static/")
        assert (root.status_code, root.content) == (200, b"GIF89a")
        assert root.headers["Content-Type"].startswith("text/plain")
        sub = await http_get(f"{url}/static/sub/")
        assert (sub.status_code, sub.content) == (200, b"GIF-sub")
        page = await http_get(f"{url}/static/page.txt")
        assert (page.status_code, page.text) == (200, "text")
        # the '' rule is not a catch-all prefix: other paths are still not found
        assert (await http_get(f"{url}/elsewhere/x")).status_code == 404


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_socketio_path_none_takes_every_path(transport: str) -> None:
    sio = socketwire.AsyncServer()
    sio.on("echo", lambda sid, data: data)
    app = socketwire.ASGIApp(sio, socketio_path=None)
    async with serving(app) as url:
        c = socketio.AsyncClient(reconnection=False)
        await c.connect(
            url, socketio_path="/somewhere/else", transports=[transport], wait_timeout=WAIT
        )
        try:
            assert await c.call("echo", "hi", timeout=WAIT) == "hi"
        finally:
            await c.disconnect()


async def test_async_handle_request_from_own_asgi_routing() -> None:
    sio = socketwire.AsyncServer()
    sio.on("echo", lambda sid, data: data)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith("/rt/"):
            await sio.handle_request(scope, receive, send)
            return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    port = free_port()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        for transport in ("polling", "websocket"):
            c = socketio.AsyncClient(reconnection=False)
            await c.connect(
                f"http://{HOST}:{port}", socketio_path="/rt/", transports=[transport],
                wait_timeout=WAIT,
            )  # fmt: skip
            try:
                assert await c.call("echo", transport, timeout=WAIT) == transport
            finally:
                await c.disconnect()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


@contextlib.contextmanager
def werkzeug_serving(app: Any) -> Iterator[str]:
    port = free_port()
    server = make_server(HOST, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.shutdown()
        thread.join(WAIT)


def test_sync_handle_request_and_middleware_alias() -> None:
    sio = socketwire.Server()
    sio.on("echo", lambda sid, data: data)
    assert not sio.is_asyncio_based() and socketwire.AsyncServer().is_asyncio_based()

    def routed(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"].startswith("/rt/"):
            return sio.handle_request(environ, start_response)
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    def fallback(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"other app"]

    with werkzeug_serving(routed) as url:
        c = socketio.Client(reconnection=False)
        c.connect(url, socketio_path="/rt/", transports=["polling"], wait_timeout=WAIT)
        try:
            assert c.call("echo", "sync", timeout=WAIT) == "sync"
        finally:
            c.disconnect()
    with werkzeug_serving(socketwire.Middleware(sio, fallback)) as url:
        assert requests.get(f"{url}/page", timeout=WAIT).text == "other app"
        c = socketio.Client(reconnection=False)
        c.connect(url, transports=["polling"], wait_timeout=WAIT)
        try:
            assert c.call("echo", "mw", timeout=WAIT) == "mw"
        finally:
            c.disconnect()
    sio.driver.stop()


def test_async_mode_attribute() -> None:
    """python-socketio's ``sio.async_mode`` (its examples show it on their pages)."""
    assert socketwire.Server().async_mode == "threading"
    assert socketwire.AsyncServer().async_mode == "asgi"
    assert socketwire.AsyncServer(async_mode="aiohttp").async_mode == "aiohttp"


async def test_call_errors_are_socketio_errors() -> None:
    """``except socketio.exceptions.SocketIOError`` around ``call()`` ports as is."""
    from socketwire.exceptions import SocketIOError, TimeoutError

    sio = socketwire.AsyncServer()
    async with running(sio) as url, client(url) as c:

        async def slow() -> None:
            await asyncio.sleep(30)  # python-socketio's client acks when this returns

        c.on("slow", slow)
        with pytest.raises(SocketIOError):
            await sio.call("slow", to=c.get_sid(), timeout=0.2)
        assert issubclass(TimeoutError, SocketIOError)


def test_async_server_async_mode_is_checked() -> None:
    for mode in ("asgi", "aiohttp", "sanic", "tornado"):
        assert socketwire.AsyncServer(async_mode=mode).async_mode == mode
    assert socketwire.AsyncServer().async_mode == "asgi"
    with pytest.raises(ValueError, match="eventlet"):
        socketwire.AsyncServer(async_mode="eventlet")  # a Server mode, not an asyncio one
    with pytest.raises(ValueError, match="not supported"):
        socketwire.AsyncServer(async_mode="threading")  # a Server mode, not an asyncio one


@pytest.mark.parametrize("sent", [None, {}, {"token": "t"}], ids=["none", "empty", "token"])
async def test_connect_auth_is_none_when_the_client_sent_none(sent: Any) -> None:
    """python-socketio's client sends ``{}`` when it has no auth; python-socketio's server
    hands the handler None for that and for no payload at all, and apps test for None."""
    sio = socketwire.AsyncServer()
    seen: list[Any] = []

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> None:
        seen.append(auth)

    async with running(sio) as url:
        async with client(url, auth=sent):
            pass
    assert seen == [sent or None]


def test_sync_server_connect_auth_is_none_when_the_client_sent_none() -> None:
    sio = socketwire.Server()
    seen: list[Any] = []

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> None:
        seen.append(auth)

    with werkzeug_serving(socketwire.WSGIApp(sio)) as url:
        for sent in (None, {}, {"k": 1}):
            c = socketio.Client(reconnection=False)
            c.connect(url, auth=sent, transports=["websocket"], wait_timeout=WAIT)
            c.disconnect()
    assert seen == [None, None, {"k": 1}]
