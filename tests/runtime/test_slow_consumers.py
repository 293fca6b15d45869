"""Slow consumers: a client that takes its output more slowly than the server produces it
is closed ('slow consumer') once its backlog passes ``max_buffered_bytes`` /
``max_buffered_packets``, on every transport; the process does not grow with it, and the
witnesses (:func:`guarded`) miss nothing."""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import pytest
import socketio

import socketwire

from .conftest import App, guarded
from .wire import RawWebSocket

pytestmark = pytest.mark.timeout(90)

BLOB = "x" * 10_000


async def test_a_websocket_client_that_never_reads_is_dropped(server, wire):
    app = App(max_buffered_bytes=1_000_000)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await RawWebSocket.open(server.port, rcvbuf=32 * 1024)
    try:
        bad.send(0x81, b"40")  # connects to "/", then never reads again
        for _ in range(200):
            if len(app.connected) == 3:
                break
            await asyncio.sleep(0.01)
        sid = app.connected[-1]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        async with guarded(app, *peers):
            for _ in range(1000):  # 10 MB for it
                await app.sio.emit("blob", BLOB, to=sid)
            assert await app.disconnect_reason(sid, timeout=10) == "slow consumer"
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert grown_mb < 60, f"RSS grew {grown_mb:.0f} MB"
    finally:
        bad.close()


async def test_a_polling_client_that_never_polls_is_dropped(server, wire):
    """It POSTs pongs to stay alive but never GETs what is queued for it."""
    app = App(max_buffered_packets=100, ping_interval=5)
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("polling")
    async with guarded(app, *peers):
        for i in range(150):
            await app.sio.emit("news", i, to=bad.sid)
        reply = await bad.send("3")
        assert reply is not None
        assert await app.disconnect_reason(bad.sid, timeout=5) == "slow consumer"


async def test_within_the_caps_nothing_is_dropped(server, wire):
    app = App(max_buffered_packets=100)
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers, n=40):  # 80 ticks, each under the caps between polls
        pass


async def test_threaded_server_drops_a_websocket_client_that_never_reads() -> None:
    reasons: dict[str, str] = {}
    sio = socketwire.Server(max_buffered_bytes=1_000_000)

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        reasons[sid] = reason

    @sio.on("echo")
    def echo(sid: str, data: Any) -> Any:
        return data

    native = await socketwire.create_server(sio, "127.0.0.1", 0)
    port = native.sockets[0].getsockname()[1]
    good = socketio.AsyncClient(reconnection=False)
    got: list[int] = []
    good.on("blob", lambda data: got.append(len(data)))
    await good.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=5)
    bad = await RawWebSocket.open(port, rcvbuf=32 * 1024)
    try:
        bad.send(0x81, b"40")
        loop = asyncio.get_running_loop()
        for _ in range(200):
            if len(sio.core.sockets) == 2:
                break
            await asyncio.sleep(0.01)
        (bad_sid,) = [sid for sid in sio.core.sockets if sid != good.get_sid()]
        for _ in range(1000):
            await loop.run_in_executor(None, sio.emit, "blob", BLOB)
        for _ in range(500):
            if bad_sid in reasons:
                break
            await asyncio.sleep(0.02)
        assert reasons.get(bad_sid) == "slow consumer"
        assert await good.call("echo", "fine", timeout=5) == "fine"
        for _ in range(500):
            if len(got) == 1000:
                break
            await asyncio.sleep(0.02)
        assert got == [len(BLOB)] * 1000
    finally:
        bad.close()
        await good.disconnect()
        native.close()
        await native.wait_closed()
