"""Handler failures, acknowledgements from clients that leave, and heartbeats."""

from __future__ import annotations

import asyncio
import logging

import pytest

import socketwire

from .conftest import App, guarded, wait_until
from .wire import parse_sio

TRANSPORTS = ["websocket", "polling"]


# ------------------------------------------------------------------ 10. raising handlers


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_raising_handler_is_logged_and_client_stays(server, wire, caplog, kind, transport):
    caplog.set_level(logging.ERROR, logger="socketwire")
    app = App()

    if kind == "sync":

        @app.sio.on("boom")
        def boom(sid: str, value: int) -> None:
            raise ValueError(f"boom {value}")
    else:

        @app.sio.on("boom")
        async def boom(sid: str, value: int) -> None:
            await asyncio.sleep(0)
            raise ValueError(f"boom {value}")

    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw(transport)

    def logged() -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.name.startswith("socketwire")
            and r.exc_info
            and isinstance(r.exc_info[1], ValueError)
            and str(r.exc_info[1]) == "boom 7"
        ]

    async with guarded(app, *peers):
        await raw.send('42["boom",7]')
        await wait_until(lambda: bool(logged()), what="the handler error to be logged")
        # the client is still connected: it gets the next event, and its own next one
        # is handled
        await app.sio.emit("next", "after", to=raw.sid)
        assert await raw.recv() == '42["next","after"]'
        await raw.send('42["evt",8]')
        assert await app.next_event() == ("evt", raw.sid, [8])
    assert len(logged()) == 1
    assert logged()[0].levelno == logging.ERROR
    assert not app.is_disconnected(raw.sid)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_raising_handler_with_ack_request_sends_no_ack(server, wire, caplog, kind):
    """A handler that raises for an acknowledged event: no ack is sent (there is no result),
    the error is logged, and the next acknowledged event is answered normally."""
    caplog.set_level(logging.ERROR, logger="socketwire")
    app = App()

    if kind == "sync":

        @app.sio.on("boom")
        def boom(sid: str) -> str:
            raise RuntimeError("ack boom")
    else:

        @app.sio.on("boom")
        async def boom(sid: str) -> str:
            raise RuntimeError("ack boom")

    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw("websocket")
    async with guarded(app, *peers):
        await raw.send('421["boom"]')
        await wait_until(
            lambda: any(r.exc_info and str(r.exc_info[1]) == "ack boom" for r in caplog.records),
            what="the handler error to be logged",
        )
        await raw.send('422["echo","fine"]')
        assert await raw.recv() == '432["fine"]'  # and not an ack for id 1 first


# ------------------------------------------------------------------ 11. call() and leavers


@pytest.mark.parametrize("how", ["close-transport", "socketio-disconnect"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_call_to_client_that_leaves(server, wire, how, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    raw = await wire.raw(transport)
    timeout = 1.0
    async with guarded(app, *peers):
        loop = asyncio.get_running_loop()
        started = loop.time()
        call = asyncio.ensure_future(app.sio.call("ask", {"q": 1}, to=raw.sid, timeout=timeout))
        packet = await raw.recv()
        assert isinstance(packet, str) and packet.startswith("4"), packet
        type_, _, ack_id, data = parse_sio(packet[1:])
        assert (type_, data) == (2, ["ask", {"q": 1}]) and ack_id is not None
        if how == "close-transport":
            if transport == "websocket":
                await raw.close()
            else:
                await raw.send("1")  # Engine.IO close
        else:
            await raw.send("41")  # leave the namespace
        reason = await app.disconnect_reason(raw.sid)
        assert reason in ("transport close", "client disconnect"), reason
        with pytest.raises(socketwire.DisconnectedError):
            await asyncio.wait_for(call, timeout + 2)
        # failing fast is the point: the call does not wait out its timeout
        assert loop.time() - started < timeout


async def test_call_to_unknown_sid_raises_disconnected(server, wire):
    app = App()
    await server.start(app)
    with pytest.raises(socketwire.DisconnectedError):
        await asyncio.wait_for(app.sio.call("ask", to="no-such-sid", timeout=1), 2)


async def test_call_is_answered(server, wire):
    """Control for the tests above: a client that answers makes call() return."""
    app = App()
    await server.start(app)
    witness = await wire.witness("websocket")
    result = await asyncio.wait_for(app.sio.call("ask", 5, to=witness.sid, timeout=2), 3)
    assert result == "ok"
    assert await witness.next("ask") == [5]


# ------------------------------------------------------------------ 12. heartbeat


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_client_that_never_pongs_is_dropped(server, wire, transport):
    app = App(ping_interval=0.3, ping_timeout=0.2)
    await server.start(app)
    peers = await wire.witnesses()
    if transport == "websocket":
        bad = await wire.ws()
        await bad.open()
        await bad.send("40")
        packet = await bad.recv(pong=False)
        assert packet.startswith("40"), packet
        sid = parse_sio(packet[1:])[3]["sid"]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bad.expect_closed(timeout=3, pong=False)
    else:
        bad_polling = wire.polling()
        await bad_polling.open()
        sid = await bad_polling.sio_connect()
        loop = asyncio.get_running_loop()
        started = loop.time()
        # poll (receiving the ping) but never answer it
        got: list[str] = []
        while "1" not in got:
            reply = await bad_polling.get_reply(timeout=3)
            if reply.status == 400:
                break
            got += reply.text.split("\x1e")
            assert loop.time() - started < 3, got
        assert "2" in got or reply.status == 400
    assert await app.disconnect_reason(sid) == "ping timeout"
    assert 0.25 <= loop.time() - started < 2.0
    async with guarded(app, *peers):
        pass


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_client_that_pongs_stays_connected(server, wire, transport):
    app = App(ping_interval=0.3, ping_timeout=0.2)
    await server.start(app)
    peer = await wire.witness(transport)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # four pings answered take more than 1.2 s
    await peer.wait_pings(4, timeout=5)
    assert loop.time() - started > 1.0
    async with guarded(app, peer):
        pass
    assert not app.is_disconnected(peer.sid)
