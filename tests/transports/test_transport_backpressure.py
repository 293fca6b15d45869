"""Backpressure on the hosted transports (aiohttp, Tornado, a threaded WSGI server): a client
flooding a handler that waits is paused, not buffered and not closed (a flood of 50,000
events against ``max_queued_events=2_000`` would otherwise close it), and a witness keeps its
latency; on Tornado, a client that never reads is closed as a slow consumer once what
Tornado holds for it passes ``max_buffered_bytes``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio
from tests.runtime.wire import RawWebSocket

import socketwire

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
EVENTS = 50_000
CAP = 2_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Served:
    """A server with a ``work`` handler that waits for ``release`` and an ``echo``."""

    def __init__(self, threaded: bool, **options: Any) -> None:
        self.handled = 0
        self.reasons: dict[str, str] = {}
        self.port = 0
        if threaded:
            self.sio: Any = socketwire.Server(max_queued_events=CAP, handler_threads=8, **options)
            self.release: Any = threading.Event()

            @self.sio.on("work")
            def work(sid: str, *args: Any) -> None:
                self.release.wait(30)
                self.handled += 1
        else:
            self.sio = socketwire.AsyncServer(max_queued_events=CAP, **options)
            self.release = asyncio.Event()

            @self.sio.on("work")
            async def awork(sid: str, *args: Any) -> None:
                await self.release.wait()
                self.handled += 1

        @self.sio.on("echo")
        def echo(sid: str, data: Any) -> Any:
            return data

        @self.sio.event
        def disconnect(sid: str, reason: str) -> None:
            self.reasons[sid] = reason


@contextlib.asynccontextmanager
async def aiohttp_server(served: Served) -> AsyncIterator[None]:
    from aiohttp import web

    app = web.Application()
    served.sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    served.port = free_port()
    await web.TCPSite(runner, HOST, served.port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def tornado_server(served: Served) -> AsyncIterator[None]:
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    app = tornado.web.Application([(r"/socket.io/", socketwire.get_tornado_handler(served.sio))])
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, HOST)
    server.add_sockets(sockets)
    served.port = sockets[0].getsockname()[1]
    try:
        yield
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def werkzeug_server(served: Served) -> AsyncIterator[None]:
    from werkzeug.serving import make_server

    served.port = free_port()
    server = make_server(HOST, served.port, socketwire.WSGIApp(served.sio), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        served.release.set()
        served.sio.shutdown()
        server.shutdown()
        thread.join(10)


SERVERS: dict[str, tuple[bool, Callable[[Served], Any]]] = {
    "aiohttp": (False, aiohttp_server),
    "tornado": (False, tornado_server),
    "werkzeug": (True, werkzeug_server),
}


@pytest.mark.parametrize("name", list(SERVERS))
async def test_a_websocket_flood_is_paused_not_closed(name: str) -> None:
    threaded, serve = SERVERS[name]
    served = Served(threaded)
    async with serve(served):
        good = socketio.AsyncClient(reconnection=False)
        await good.connect(f"http://{HOST}:{served.port}", transports=["websocket"], wait_timeout=5)
        bad = await RawWebSocket.open(served.port)
        try:
            bad.send(0x81, b"40")
            while not (await asyncio.wait_for(bad.frame(), 5))[1].startswith(b"40"):
                pass  # the flood starts once connected, as a client's would
            frame = bytes([0x81, 0x80 | 12]) + b"\x00\x00\x00\x00" + b'42["work",1]'
            for _ in range(EVENTS // 1000):
                bad.writer.write(frame * 1000)  # as fast as the socket takes them
            await asyncio.sleep(0.5)  # the server reads until it pauses
            for n in range(10):
                started = time.monotonic()
                assert await good.call("echo", n, timeout=5) == n
                assert time.monotonic() - started < 1.0
            assert not served.reasons, served.reasons  # paused, not closed
            served.release.set()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 40
            while served.handled < EVENTS:
                assert loop.time() < deadline, f"{served.handled} of {EVENTS}"
                await asyncio.sleep(0.05)
            assert not served.reasons, served.reasons
        finally:
            served.release.set()
            bad.close()
            await good.disconnect()


async def test_tornado_drops_a_client_that_never_reads() -> None:
    served = Served(False, max_buffered_bytes=1_000_000)
    async with tornado_server(served):
        good = socketio.AsyncClient(reconnection=False)
        blobs: list[int] = []
        good.on("blob", lambda data: blobs.append(len(data)))
        await good.connect(f"http://{HOST}:{served.port}", transports=["websocket"], wait_timeout=5)
        bad = await RawWebSocket.open(served.port, rcvbuf=32 * 1024)
        try:
            bad.send(0x81, b"40")  # connects to "/", then never reads again
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while len(served.sio.core.sockets) < 2:
                assert loop.time() < deadline
                await asyncio.sleep(0.01)
            (bad_sid,) = [s for s in served.sio.core.sockets if s != good.get_sid()]
            blob = "x" * 10_000
            for _ in range(1000):  # 10 MB for it
                await served.sio.emit("blob", blob, to=bad_sid)
            deadline = loop.time() + 10
            while bad_sid not in served.reasons:
                assert loop.time() < deadline, "never dropped"
                await asyncio.sleep(0.02)
            assert served.reasons[bad_sid] == "slow consumer"
            await served.sio.emit("blob", blob)
            assert await good.call("echo", "fine", timeout=5) == "fine"
            deadline = loop.time() + 5
            while not blobs:
                assert loop.time() < deadline
                await asyncio.sleep(0.01)
            assert good.connected
        finally:
            bad.close()
            await good.disconnect()
