"""Malformed Engine.IO / Socket.IO input closes the offending session only; a witness on
each transport keeps receiving every broadcast around it."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from .conftest import App, guarded, wait_until
from .wire import decode_payload, dumps

TRANSPORTS = ["websocket", "polling"]


# ------------------------------------------------------------------ 1. Engine.IO level


async def test_malformed_engineio_post_is_400_and_closes_session(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        reply = await bad.send("abc")
        assert reply is not None and reply.status == 400, reply
        assert reply.json()["code"] == 3
        after = await bad.polling.get_reply()
        assert after.status == 400, after
        assert after.json() == {"code": 1, "message": "Session ID unknown"}
        assert await app.disconnect_reason(bad.sid) == "transport error"


async def test_malformed_engineio_ws_message_closes_socket(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("websocket")
    async with guarded(app, *peers):
        await bad.send("abc")
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"


# ------------------------------------------------------------------ 2. Socket.IO level


BAD_SIO = {
    "unknown-type": "4abc",
    "bad-json": "42{",
    "invalid-ack-id": '42abc["x"]',
    "reserved-event-name": '42["connect"]',
    "connect-error-from-client": '44{"message":"nope"}',
    "empty-event": "42[]",
    "event-name-not-string": "42[{}]",
    "ack-without-id": '43["x"]',
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("packet", list(BAD_SIO.values()), ids=list(BAD_SIO))
async def test_malformed_socketio_packet_closes_connection(server, wire, transport, packet):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw(transport)
    async with guarded(app, *peers):
        reply = await bad.send(packet)
        if reply is not None:  # polling: the Engine.IO packet itself was fine
            assert reply.status == 200, reply
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"
    assert app.events.empty(), "a malformed packet reached a handler"


# ------------------------------------------------------------------ 3. binary packets


def placeholder(num: int) -> dict[str, object]:
    return {"_placeholder": True, "num": num}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_too_many_attachments_closes(server, wire, transport):
    app = App(max_attachments=10)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw(transport)
    async with guarded(app, *peers):
        await bad.send("4511-" + dumps(["evt", *[placeholder(i) for i in range(11)]]))
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_max_attachments_is_accepted(server, wire, transport):
    """Control for the test above: exactly ``max_attachments`` parts are fine."""
    app = App(max_attachments=10)
    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw(transport)
    blobs = [bytes([i]) * 3 for i in range(10)]
    async with guarded(app, *peers):
        await raw.send("4510-" + dumps(["evt", *[placeholder(i) for i in range(10)]]), *blobs)
        assert await app.next_event() == ("evt", raw.sid, blobs)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_placeholder_out_of_range_closes(server, wire, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw(transport)
    async with guarded(app, *peers):
        await bad.send("451-" + dumps(["evt", placeholder(5)]))
        # the server may close at once or after the attachment: send it if still possible
        with contextlib.suppress(Exception):
            await bad.send(b"\x01\x02")
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"
    assert app.events.empty()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_zero_attachment_binary_event_is_delivered(server, wire, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw(transport)
    async with guarded(app, *peers):
        await raw.send('450-["evt",1]')
        assert await app.next_event() == ("evt", raw.sid, [1])
        # still connected: an acknowledged echo is answered
        await raw.send('427["echo",2]')
        assert await raw.recv() == "437[2]"
    assert not app.is_disconnected(raw.sid)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_binary_event_with_attachment_is_delivered(server, wire, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw(transport)
    async with guarded(app, *peers):
        await raw.send("451-" + dumps(["evt", {"a": placeholder(0)}]), b"\x00\xffdata")
        assert await app.next_event() == ("evt", raw.sid, [{"a": b"\x00\xffdata"}])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unexpected_binary_message_closes(server, wire, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw(transport)
    async with guarded(app, *peers):
        await bad.send(b"\x00\x01\x02")
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_text_packet_while_attachments_awaited_closes(server, wire, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw(transport)
    async with guarded(app, *peers):
        await bad.send("451-" + dumps(["evt", placeholder(0)]), '42["evt",2]')
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"
    assert app.events.empty()


# ------------------------------------------------------------------ more Engine.IO input


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"b!!!!", b"", b'42["evt",1]\x1e', b'42["evt",1]\x1eabc', b"9"],
    ids=["not-utf8", "bad-base64", "empty", "trailing-separator", "bad-second-packet", "type-9"],
)
async def test_malformed_engineio_payloads(server, wire, body):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        reply = await bad.polling.post_reply(body)
        assert reply.status == 400, reply
        assert reply.json() == {"code": 3, "message": "Bad request"}
        assert await app.disconnect_reason(bad.sid) == "transport error"
        after = await bad.polling.get_reply()
        assert after.status == 400 and after.json()["code"] == 1, after


async def test_malformed_post_ends_the_parked_poll(server, wire):
    """A poll parked when the session is closed for bad input is answered with ``1``
    instead of hanging."""
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        parked = asyncio.ensure_future(bad.polling.get_reply(timeout=5))
        await wait_until(
            lambda: server.sio.core.engine.sessions[bad.polling.sid].poll_waiter is not None,
            what="the poll to be parked",
        )
        reply = await bad.send("abc")
        assert reply is not None and reply.status == 400
        answer = await parked
        assert answer.status == 200, answer
        assert decode_payload(answer.text)[-1] == "1", answer


async def test_duplicate_poll_closes_the_session(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        first = asyncio.ensure_future(bad.polling.get_reply(timeout=5))
        await wait_until(
            lambda: server.sio.core.engine.sessions[bad.polling.sid].poll_waiter is not None,
            what="the first poll to be parked",
        )
        second = await bad.polling.get_reply()
        assert second.status == 400, second
        first_reply = await first
        assert first_reply.status == 200 and decode_payload(first_reply.text)[-1] == "1"
        assert await app.disconnect_reason(bad.sid) == "transport error"


@pytest.mark.parametrize("packet", ["0", "5", "0{}"], ids=["open", "upgrade", "open-with-data"])
async def test_unexpected_engineio_packet_on_websocket_closes(server, wire, packet):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("websocket")
    async with guarded(app, *peers):
        await bad.send(packet)
        await bad.expect_closed()
        assert await app.disconnect_reason(bad.sid) == "transport error"


async def test_invalid_utf8_text_frame_closes(server, wire):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("websocket")
    async with guarded(app, *peers):
        # aiohttp will not send invalid UTF-8 as text; write the frame through its writer
        await bad.ws.ws._writer.send_frame(b"4\xff\xfe", aiohttp.WSMsgType.TEXT)
        code = await bad.expect_closed()
        assert code == 1007
        assert await app.disconnect_reason(bad.sid) == "transport close"


async def test_abandoned_poll_is_released(server, wire, monkeypatch):
    """A client that drops the connection of its parked poll: the server notices (the ASGI
    app after ``POLL_WATCH_DELAY``), and the session's next poll gets what is sent next,
    instead of that going into the dead connection or the new poll being refused as a
    duplicate."""
    from socketwire.transports import asgi

    monkeypatch.setattr(asgi, "POLL_WATCH_DELAY", 0.05)
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    client = await wire.raw("polling")
    engine = server.sio.core.engine
    async with guarded(app, *peers):
        dropped = wire.new_session()
        poll = wire.polling(dropped)  # the same session, polled over another connection
        poll.sid = client.polling.sid
        parked = asyncio.ensure_future(poll.get_reply(timeout=5))
        await wait_until(
            lambda: engine.sessions[client.polling.sid].poll_waiter is not None,
            what="the poll to be parked",
        )
        parked.cancel()
        await dropped.close()  # the connection goes away with the poll in it
        await wait_until(
            lambda: engine.sessions[client.polling.sid].poll_waiter is None,
            what="the server to release the abandoned poll",
        )
        await server.sio.emit("news", "fresh", to=client.sid)
        packets = await client.polling.get()
        assert any('"news","fresh"' in packet for packet in packets), packets
