"""The threaded runtime's per-client queues (socketwire/client_jobs.py): one client's flood
of events delays another client's event by about one handler, not by the flood; a client
with more than ``max_queued_events`` waiting is closed alone; memory stays bounded."""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import aiohttp
import pytest
import socketio

import socketwire

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"


async def flood(url: str, events: int) -> tuple[str, int]:
    """A raw polling client that POSTs ``events`` echo events in one body; its sid and
    the POST's status."""
    async with aiohttp.ClientSession() as http:
        base = f"{url}/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as r:
            sid = (await r.text()).split('"sid":"')[1].split('"')[0]
        async with http.post(f"{base}&sid={sid}", data="40") as r:
            assert r.status == 200
        async with http.get(f"{base}&sid={sid}") as r:
            assert (await r.text()).startswith("40")
        body = "\x1e".join(['42["work",1]'] * events)
        async with http.post(f"{base}&sid={sid}", data=body) as r:
            return sid, r.status


@pytest.mark.parametrize(
    "events, max_queued, work", [(5_000, 10_000, 0.0005), (20_000, 2_000, 0.0001)]
)
async def test_a_flood_does_not_hold_up_another_client(
    events: int, max_queued: int, work: float
) -> None:
    """One POST of ``events`` events: under the cap they are all queued at once; over it,
    the POST is taken in slice by slice while the client's queue is under half the cap
    and answered once all of it is in. Either way the client is not closed."""
    sio = socketwire.Server(max_queued_events=max_queued, handler_threads=8)
    reasons: dict[str, str] = {}
    handled = [0]

    @sio.on("work")
    def work_handler(sid: str, n: int) -> None:
        handled[0] += 1
        time.sleep(work)  # a handler that does a little work

    @sio.on("echo")
    def echo(sid: str, data: Any) -> Any:
        return data

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        reasons[sid] = reason

    native = await socketwire.create_server(sio, HOST, 0)
    url = f"http://{HOST}:{native.sockets[0].getsockname()[1]}"
    good = socketio.AsyncClient(reconnection=False)
    await good.connect(url, transports=["websocket"], wait_timeout=5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        flooding = asyncio.ensure_future(flood(url, events))
        worst = 0.0
        for n in range(20):  # while the flood is being worked through
            started = time.monotonic()
            assert await good.call("echo", n, timeout=5) == n
            worst = max(worst, time.monotonic() - started)
        assert worst < 1.0, f"another client's echo took {worst:.2f} s"
        _, status = await asyncio.wait_for(flooding, 60)
        assert status == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while handled[0] < events:  # every event is handled
            assert loop.time() < deadline, f"{handled[0]} of {events}"
            await asyncio.sleep(0.02)
        assert not reasons, reasons
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert grown_mb < 100, f"RSS grew {grown_mb:.0f} MB"
        assert good.connected
    finally:
        await good.disconnect()
        native.close()
        await native.wait_closed()


async def test_a_websocket_flood_is_throttled_on_the_native_server() -> None:
    """Over the native server's WebSocket the flooding client is not closed: once half of
    ``max_queued_events`` wait, its connection is not read until they drop to a quarter."""
    import threading

    from tests.runtime.wire import RawWebSocket

    sio = socketwire.Server(max_queued_events=2_000, handler_threads=8)
    release = threading.Event()
    handled = [0]
    reasons: dict[str, str] = {}

    @sio.on("work")
    def work(sid: str, *args: Any) -> None:
        release.wait(30)
        handled[0] += 1

    @sio.on("echo")
    def echo(sid: str, data: Any) -> Any:
        return data

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        reasons[sid] = reason

    native = await socketwire.create_server(sio, HOST, 0)
    port = native.sockets[0].getsockname()[1]
    good = socketio.AsyncClient(reconnection=False)
    await good.connect(f"http://{HOST}:{port}", transports=["websocket"], wait_timeout=5)
    bad = await RawWebSocket.open(port)
    try:
        bad.send(0x81, b"40")
        frame = bytes([0x81, 0x80 | 12]) + b"\x00\x00\x00\x00" + b'42["work",1]'
        for _ in range(50):
            bad.writer.write(frame * 1000)  # 50,000 events
        for n in range(10):
            started = time.monotonic()
            assert await good.call("echo", n, timeout=5) == n
            assert time.monotonic() - started < 1.0
        assert not reasons, reasons  # throttled, not closed
        release.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while handled[0] < 50_000:
            assert loop.time() < deadline, f"{handled[0]} of 50000"
            await asyncio.sleep(0.05)
        assert not reasons, reasons
    finally:
        release.set()
        bad.close()
        await good.disconnect()
        native.close()
        await native.wait_closed()
