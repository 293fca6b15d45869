"""Oversized payloads and bad Engine.IO requests get clear HTTP errors; nobody else notices."""

from __future__ import annotations

import pytest

from .conftest import HOST, App, guarded
from .wire import PATH, http, raw_http, read_response_head

LIMIT = 1000


def post_head(port: int, sid: str, extra: str) -> bytes:
    return (
        f"POST {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        f"{extra}\r\n"
    ).encode()


# ------------------------------------------------------------------ 4. oversized payloads


async def test_content_length_over_limit_is_413_before_the_body(server, wire):
    app = App(max_http_buffer_size=LIMIT)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        reader, writer = await raw_http(HOST, server.port)
        try:
            # headers only: the body is never sent, so a 413 proves it was not awaited
            writer.write(
                post_head(server.port, bad.polling.sid, f"Content-Length: {LIMIT * 1000}\r\n")
            )
            await writer.drain()
            status, _ = await read_response_head(reader)
            assert status == 413
        finally:
            writer.close()


async def test_chunked_body_over_limit_is_413(server, wire):
    app = App(max_http_buffer_size=LIMIT)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        reader, writer = await raw_http(HOST, server.port)
        try:
            writer.write(post_head(server.port, bad.polling.sid, "Transfer-Encoding: chunked\r\n"))
            chunk = b"4" + b"x" * 599
            for _ in range(2):  # 1200 bytes > LIMIT, and the body is never terminated
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            status, _ = await read_response_head(reader)
            assert status == 413
        finally:
            writer.close()


async def test_chunked_body_under_limit_is_accepted(server, wire):
    """Control for the test above: a chunked POST within the limit is processed."""
    app = App(max_http_buffer_size=LIMIT)
    await server.start(app)
    raw = await wire.raw("polling")
    reader, writer = await raw_http(HOST, server.port)
    try:
        writer.write(post_head(server.port, raw.polling.sid, "Transfer-Encoding: chunked\r\n"))
        body = b'42["evt","' + b"y" * 300 + b'"]'
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        await writer.drain()
        status, _ = await read_response_head(reader)
        assert status == 200
        assert await app.next_event() == ("evt", raw.sid, ["y" * 300])
    finally:
        writer.close()


@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_websocket_message_over_limit_closes(server, wire, kind):
    app = App(max_http_buffer_size=LIMIT)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("websocket")
    async with guarded(app, *peers):
        if kind == "text":
            await bad.send('42["evt","' + "z" * (2 * LIMIT) + '"]')
        else:
            await bad.send("451-" + '["evt",{"_placeholder":true,"num":0}]')
            await bad.send(b"\x00" * (2 * LIMIT))
        code = await bad.expect_closed()
        if server.mode == "native":
            assert code == 1009
        assert await app.disconnect_reason(bad.sid) == "transport close"
    assert app.events.empty()


# ------------------------------------------------------------------ 5. bad requests


def params(**kw: str) -> dict[str, str]:
    return {k: v for k, v in kw.items() if v is not None}


UNKNOWN_SID = {"code": 1, "message": "Session ID unknown"}
BAD_REQUESTS = {
    "get-unknown-sid": ("GET", params(EIO="4", transport="polling", sid="nope"), UNKNOWN_SID),
    "post-unknown-sid": ("POST", params(EIO="4", transport="polling", sid="nope"), UNKNOWN_SID),
    "missing-transport": ("GET", params(EIO="4"), {"code": 0, "message": "Transport unknown"}),
    "invalid-transport": (
        "GET",
        params(EIO="4", transport="carrier-pigeon"),
        {"code": 0, "message": "Transport unknown"},
    ),
    "eio3": (
        "GET",
        params(EIO="3", transport="polling"),
        {"code": 5, "message": "Unsupported protocol version"},
    ),
    "missing-eio": (
        "GET",
        params(transport="polling"),
        {"code": 5, "message": "Unsupported protocol version"},
    ),
    "post-without-sid": (
        "POST",
        params(EIO="4", transport="polling"),
        {"code": 2, "message": "Bad handshake method"},
    ),
    "put-without-sid": (
        "PUT",
        params(EIO="4", transport="polling"),
        {"code": 2, "message": "Bad handshake method"},
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_bad_request_is_400_with_code(server, wire, case):
    method, query, expected = BAD_REQUESTS[case]
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers):
        reply = await http(
            wire.session, method, wire.url + PATH, query, data="40" if method != "GET" else None
        )
        assert reply.status == 400, reply
        assert reply.headers["Content-Type"].startswith("application/json")
        assert reply.json() == expected


async def test_put_with_sid_is_400_and_session_survives(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw("polling")
    async with guarded(app, *peers):
        reply = await http(
            wire.session, "PUT", wire.url + PATH, raw.polling.params(), data='42["evt",1]'
        )
        assert reply.status == 400, reply
        assert reply.json()["code"] == 3
    # a refused PUT is not a protocol violation by the session: it still works
    await raw.send('42["evt",2]')
    assert await app.next_event() == ("evt", raw.sid, [2])


async def test_websocket_with_unknown_sid_is_refused(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers):
        with pytest.raises(Exception) as info:
            await wire.ws(sid="nope")
        status = getattr(info.value, "status", None)
        # both answer the Engine.IO 400 (ASGI through the websocket.http.response extension)
        assert status == 400, info.value


async def test_websocket_multibyte_text_over_limit_closes(server, wire, request):
    """The limit is in bytes: a text message of fewer characters than the limit but more
    bytes (UTF-8) is too big."""
    app = App(max_http_buffer_size=LIMIT)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("websocket")
    async with guarded(app, *peers):
        message = '42["evt","' + "\u20ac" * 600 + '"]'
        assert len(message) < LIMIT < len(message.encode())
        await bad.send(message)
        await bad.expect_closed(timeout=2)
        assert await app.disconnect_reason(bad.sid) == "transport close"
    assert app.events.empty()
