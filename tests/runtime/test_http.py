"""Upgrades, CORS, transport restrictions and HTTP compression, on the wire."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import aiohttp
import pytest

from .conftest import App, guarded
from .wire import PATH, Peer, decode_payload, http

# ------------------------------------------------------------------ 6. upgrade


async def upgrade(wire: Any, auth: Any = None) -> tuple[Any, Any, str]:
    """Open over polling, join ``/``, upgrade to WebSocket; returns (polling, ws, sio sid)."""
    polling = wire.polling()
    await polling.open()
    sid = await polling.sio_connect(auth)
    ws = await wire.ws(sid=polling.sid)
    await ws.send("2probe")
    assert await ws.recv() == "3probe"
    await ws.send("5")
    return polling, ws, sid


async def test_second_websocket_for_upgraded_session_is_closed(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    polling, ws, sid = await upgrade(wire, auth={"witness": True})
    first = wire.adopt(await Peer.adopt_ws(ws, sid))
    assert await first.call("echo", "upgraded") == ["upgraded"]
    async with guarded(app, first, *peers):
        second = await wire.ws(sid=polling.sid)
        await second.expect_closed()
    assert server.sio.transport(sid) == "websocket"


async def test_poll_after_upgrade_is_400(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    polling, ws, sid = await upgrade(wire, auth={"witness": True})
    first = wire.adopt(await Peer.adopt_ws(ws, sid))
    assert await first.call("echo", "upgraded") == ["upgraded"]
    async with guarded(app, first, *peers):
        reply = await polling.get_reply()
        assert reply.status == 400, reply
        assert reply.json()["code"] == 3
        reply = await polling.post_reply('42["evt",1]')
        assert reply.status == 400, reply
    assert app.events.empty(), "a POST after the upgrade was processed"


# ------------------------------------------------------------------ 7. CORS


def own_origin(server: Any) -> str:
    return f"http://127.0.0.1:{server.port}"


async def handshake_status(wire: Any, origin: str | None) -> tuple[int, Any]:
    headers = {"Origin": origin} if origin else None
    reply = await http(
        wire.session, "GET", wire.url + PATH, {"EIO": "4", "transport": "polling"}, headers=headers
    )
    return reply.status, reply


async def ws_handshake_status(wire: Any, origin: str | None) -> int:
    headers = {"Origin": origin} if origin else None
    try:
        ws = await wire.ws(headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    packet = await ws.recv()
    assert isinstance(packet, str) and packet.startswith("0"), packet
    await ws.close()
    return 101


CORS_CASES = {
    # name: (cors_allowed_origins, accepted origins, refused origins)
    "default-same-origin": (None, ["SELF"], ["http://evil.example", "http://127.0.0.1:1"]),
    "star": ("*", ["http://evil.example", "SELF"], []),
    "string": ("http://a.example", ["http://a.example"], ["http://b.example", "SELF"]),
    "list": (
        ["http://a.example", "https://b.example"],
        ["http://a.example", "https://b.example"],
        ["http://b.example", "SELF"],
    ),
    "callable": (
        lambda origin: origin.endswith(".good.example"),
        ["http://x.good.example"],
        ["http://good.example.evil", "SELF"],
    ),
}


@pytest.mark.parametrize("case", list(CORS_CASES))
async def test_cors_origins(server, wire, case):
    allowed, accepted, refused = CORS_CASES[case]
    app = App() if allowed is None else App(cors_allowed_origins=allowed)
    await server.start(app)
    peers = await wire.witnesses()
    fill = lambda origin: own_origin(server) if origin == "SELF" else origin  # noqa: E731
    async with guarded(app, *peers):
        for origin in map(fill, accepted):
            status, reply = await handshake_status(wire, origin)
            assert status == 200, (origin, reply)
            assert reply.headers.get("Access-Control-Allow-Origin") == origin
            assert reply.headers.get("Access-Control-Allow-Credentials") == "true"
            assert await ws_handshake_status(wire, origin) == 101, origin
        for origin in map(fill, refused):
            status, reply = await handshake_status(wire, origin)
            assert status == 403, (origin, reply)
            assert reply.json()["code"] == 4
            assert "Access-Control-Allow-Origin" not in reply.headers
            assert await ws_handshake_status(wire, origin) == 403, origin
        # no Origin at all (not a browser): always accepted
        status, reply = await handshake_status(wire, None)
        assert status == 200, reply
        assert "Access-Control-Allow-Origin" not in reply.headers


@pytest.mark.parametrize("allowed", ["*", ["http://a.example"]], ids=["star", "list"])
async def test_cors_preflight(server, wire, allowed):
    app = App(cors_allowed_origins=allowed)
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers):
        reply = await http(
            wire.session,
            "OPTIONS",
            wire.url + PATH,
            {"EIO": "4", "transport": "polling"},
            headers={
                "Origin": "http://a.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-custom",
            },
        )
        assert reply.status == 204, reply
        assert reply.body == b""
        assert reply.headers["Access-Control-Allow-Origin"] == "http://a.example"
        methods = {m.strip() for m in reply.headers["Access-Control-Allow-Methods"].split(",")}
        assert {"GET", "POST", "OPTIONS"} <= methods
        assert reply.headers["Access-Control-Allow-Headers"] == "content-type, x-custom"
        assert reply.headers["Access-Control-Allow-Credentials"] == "true"
        refused = await http(
            wire.session,
            "OPTIONS",
            wire.url + PATH,
            {"EIO": "4", "transport": "polling"},
            headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
        )
        if allowed == "*":
            assert refused.status == 204, refused
        else:
            assert refused.status == 403, refused


# ------------------------------------------------------------------ 8. websocket only


async def test_websocket_only_server(server, wire):
    app = App(transports=["websocket"])
    await server.start(app)
    witness = await wire.witness("websocket")
    async with guarded(app, witness):
        status, reply = await handshake_status(wire, None)
        assert status == 400, reply
        assert reply.json() == {"code": 0, "message": "Transport unknown"}
        ws = await wire.ws()
        handshake = await ws.open()
        assert handshake["upgrades"] == []
        sid = await ws.sio_connect()
        await ws.send('42["evt","ws-only"]')
        assert await app.next_event() == ("evt", sid, ["ws-only"])


async def test_polling_handshake_advertises_websocket_upgrade(server, wire):
    app = App(ping_interval=7, ping_timeout=3, max_http_buffer_size=12345)
    await server.start(app)
    handshake = await wire.polling().open()
    assert handshake["upgrades"] == ["websocket"]
    assert handshake["pingInterval"] == 7000
    assert handshake["pingTimeout"] == 3000
    assert handshake["maxPayload"] == 12345


# ------------------------------------------------------------------ 9. compression


BIG = "x" * 2000
SMALL = "y" * 100


@pytest.mark.parametrize(
    ("options", "accept", "text", "encoding"),
    [
        ({}, "gzip", BIG, "gzip"),
        ({}, "deflate", BIG, "deflate"),
        ({}, "identity", BIG, None),
        ({}, "gzip", SMALL, None),
        ({"http_compression": False}, "gzip", BIG, None),
        ({}, "gzip;q=0, identity", BIG, None),
    ],
    ids=["gzip", "deflate", "identity", "below-threshold", "disabled", "gzip-q0"],
)
async def test_poll_response_compression(server, wire, options, accept, text, encoding):
    app = App(**options)
    await server.start(app)
    peers = await wire.witnesses()
    raw_session = wire.new_session(auto_decompress=False)
    raw = await wire.raw("polling")
    raw.polling.session = raw_session
    async with guarded(app, *peers):
        await app.sio.emit("big", text, to=raw.sid)
        reply = await raw.polling.get_reply(headers={"Accept-Encoding": accept})
        assert reply.status == 200, reply
        assert reply.headers.get("Content-Encoding") == encoding
        body = reply.body
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        assert decode_payload(body.decode()) == [f'42["big","{text}"]']
