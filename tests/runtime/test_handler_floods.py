"""A client that fires events at a handler that awaits (asyncio runtime): its WebSocket
stops being read (native server and ASGI) once half of ``max_queued_events`` of its
handlers are awaiting, so it cannot pile up tasks; over ``max_queued_events`` (a polling POST full
of events) the client is closed alone. The witnesses keep their latency."""

from __future__ import annotations

import asyncio
import time

import pytest

from .conftest import App, Wire
from .wire import RawWebSocket

pytestmark = pytest.mark.timeout(60)


def slow_app(max_queued: int) -> tuple[App, asyncio.Event, list[int]]:
    app = App(max_queued_events=max_queued)
    release = asyncio.Event()
    started = [0]

    @app.sio.on("slow")
    async def slow(sid: str, *args: object) -> None:
        started[0] += 1
        await release.wait()

    return app, release, started


async def test_a_websocket_flood_is_throttled_not_buffered(server, wire: Wire) -> None:
    app, release, started = slow_app(2_000)
    await server.start(app)
    witness = await wire.witness()
    bad = await RawWebSocket.open(server.port)
    try:
        bad.send(0x81, b"40")
        frame = bytes([0x81, 0x80 | len(b'42["slow"]')]) + b"\x00\x00\x00\x00" + b'42["slow"]'
        for _ in range(50):  # 50,000 events, written as fast as the socket takes them
            bad.writer.write(frame * 1000)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while started[0] < 1_000:
            assert loop.time() < deadline, started
            await asyncio.sleep(0.01)
        worst = 0.0
        for n in range(20):
            t0 = time.monotonic()
            assert await witness.call("echo", n) == [n]
            worst = max(worst, time.monotonic() - t0)
        assert worst < 1.0, worst
        # paused from half the cap on: what was already read is served, nothing more
        # (one read of the socket holds a few thousand of these tiny events)
        served = started[0]
        assert served < 50_000, served
        await asyncio.sleep(0.3)
        assert started[0] == served, "the paused connection was read again"
        assert not app.is_disconnected(app.connected[-1])
        release.set()  # the handlers finish; reading resumes and the rest come in
        deadline = loop.time() + 20
        while started[0] < 50_000:
            assert loop.time() < deadline, started
            await asyncio.sleep(0.05)
    finally:
        release.set()
        bad.close()


async def test_a_polling_flood_over_the_cap_is_paused_not_closed(server, wire: Wire) -> None:
    """One POST carrying three times the cap: it is taken in slice by slice, the slices stop
    at half the cap, and the POST is answered once the whole of it is in."""
    app, release, started = slow_app(1_000)
    await server.start(app)
    witness = await wire.witness()
    bad = await wire.raw("polling")
    try:
        post = asyncio.ensure_future(bad.send(*(['42["slow"]'] * 3_000)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while started[0] < 500:
            assert loop.time() < deadline, started
            await asyncio.sleep(0.01)
        assert await witness.call("echo", "fine") == ["fine"]
        await asyncio.sleep(0.2)
        assert started[0] < 1_000, started  # paused at half the cap (plus a slice)
        assert not post.done()
        release.set()
        reply = await asyncio.wait_for(post, 10)
        assert reply is not None and reply.status == 200 and reply.body == b"ok"
        deadline = loop.time() + 5
        while started[0] < 3_000:
            assert loop.time() < deadline, started
            await asyncio.sleep(0.01)
        assert not app.is_disconnected(bad.sid)
    finally:
        release.set()


async def test_a_polling_flood_waits_for_its_post_answer(server, wire: Wire) -> None:
    """Over half the cap, the answer to the client's next POST is held until its handlers
    catch up: a polling client is paused the way a WebSocket is, not closed."""
    app, release, started = slow_app(1_000)
    await server.start(app)
    witness = await wire.witness()
    bad = await wire.raw("polling")
    try:
        reply = await bad.send(*(['42["slow"]'] * 400))
        assert reply is not None and reply.status == 200  # under half the cap
        reply = await bad.send(*(['42["slow"]'] * 199))
        assert reply is not None and reply.status == 200  # read before its handlers ran
        held = asyncio.ensure_future(bad.send('42["slow"]'))
        done, _ = await asyncio.wait({held}, timeout=0.5)
        assert not done, "the POST was answered while 600 handlers were awaiting"
        assert await witness.call("echo", "fine") == ["fine"]
        release.set()
        reply = await asyncio.wait_for(held, 5)
        assert reply is not None and reply.status == 200 and reply.body == b"ok"
        assert not app.is_disconnected(bad.sid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while started[0] < 600:
            assert loop.time() < deadline, started
            await asyncio.sleep(0.01)
    finally:
        release.set()


async def test_a_post_while_one_is_held_is_an_overlap(server, wire: Wire) -> None:
    """engine.io's "data request overlap from client": a second POST while the answer to
    the first is held gets 400 and closes that client alone."""
    app, release, _ = slow_app(1_000)
    await server.start(app)
    witness = await wire.witness()
    bad = await wire.raw("polling")
    try:
        held = asyncio.ensure_future(bad.send(*(['42["slow"]'] * 600)))
        done, _ = await asyncio.wait({held}, timeout=0.3)
        assert not done
        second = await bad.send('42["slow"]')
        assert second is not None and second.status == 400
        assert await app.disconnect_reason(bad.sid) == "transport error"
        reply = await asyncio.wait_for(held, 5)  # released when the session closed
        assert reply is not None and reply.status == 200
        assert await witness.call("echo", "fine") == ["fine"]
    finally:
        release.set()
