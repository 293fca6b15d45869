"""Fixtures for the runtime suite: a socketwire ``AsyncServer`` served on a real loopback
port, in the test's own event loop, by the native server or by uvicorn (ASGI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import uvicorn

import socketwire

from .wire import Peer, Polling, Raw, Ws

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class App:
    """A fresh ``AsyncServer`` with handlers that record what happens.

    * ``connect``: a client whose auth is ``{"witness": true}`` joins room ``w``;
    * ``disconnect``: the reason is recorded (:meth:`disconnect_reason`);
    * ``echo``: acknowledges with its arguments;
    * any other event is queued in ``events`` as ``(name, sid, args)``.
    """

    def __init__(self, **options: Any) -> None:
        self.sio = socketwire.AsyncServer(**options)
        self.events: asyncio.Queue[tuple[str, str, list[Any]]] = asyncio.Queue()
        self.connected: list[str] = []
        self._reasons: dict[str, asyncio.Future[str]] = {}
        sio = self.sio

        @sio.on("connect")
        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            self.connected.append(sid)
            if isinstance(auth, dict) and auth.get("witness"):
                await sio.enter_room(sid, "w")

        @sio.on("disconnect")
        def disconnect(sid: str, reason: str) -> None:
            future = self._reason(sid)
            if not future.done():
                future.set_result(reason)

        @sio.on("echo")
        def echo(sid: str, *args: Any) -> Any:
            return args

        @sio.on("*")
        def catch_all(event: str, sid: str, *args: Any) -> None:
            self.events.put_nowait((event, sid, list(args)))

    def _reason(self, sid: str) -> asyncio.Future[str]:
        future = self._reasons.get(sid)
        if future is None:
            future = self._reasons[sid] = asyncio.get_running_loop().create_future()
        return future

    async def disconnect_reason(self, sid: str, timeout: float = 5.0) -> str:
        """Wait (bounded) for the server's ``disconnect`` handler to run for ``sid``."""
        return await asyncio.wait_for(asyncio.shield(self._reason(sid)), timeout)

    def is_disconnected(self, sid: str) -> bool:
        future = self._reasons.get(sid)
        return future is not None and future.done()

    async def next_event(self, timeout: float = 5.0) -> tuple[str, str, list[Any]]:
        return await asyncio.wait_for(self.events.get(), timeout)


class Runner:
    """Starts an app on a free loopback port in the running loop; ``mode`` is "native"
    (``socketwire.create_server``) or "asgi" (uvicorn + ``socketwire.ASGIApp``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.port = 0
        self.sio: Any = None
        self._native: asyncio.base_events.Server | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        assert self.port, "server not started"
        return f"http://{HOST}:{self.port}"

    async def start(self, app: App | Any, **native_options: Any) -> str:
        """``native_options``: the native server's HTTP limits (native mode only)."""
        sio = app.sio if isinstance(app, App) else app
        assert self.sio is None, "one server per test"
        self.sio = sio
        if self.mode == "native":
            self._native = await socketwire.create_server(sio, HOST, 0, **native_options)
            self.port = self._native.sockets[0].getsockname()[1]
            return self.url
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            socketwire.ASGIApp(sio),
            host=HOST,
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._sock = sock
        self._uvicorn = uvicorn.Server(config)
        self._task = asyncio.ensure_future(self._uvicorn.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not self._uvicorn.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn exited before it started")
            if loop.time() > deadline:
                raise RuntimeError(f"uvicorn did not start within {START_TIMEOUT}s")
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.shutdown()
        if self._native is not None:
            self._native.close()
            await asyncio.wait_for(self._native.wait_closed(), STOP_TIMEOUT)
            # let the server side of closed connections see EOF and close its transports
            for _ in range(5):
                await asyncio.sleep(0.01)
        if self._uvicorn is not None and self._task is not None:
            self._uvicorn.should_exit = True
            await asyncio.wait_for(self._task, STOP_TIMEOUT)
        if self._sock is not None:
            self._sock.close()  # asyncio closed it already, unless uvicorn never started
        tasks = getattr(self.sio, "_tasks", set())
        for task in list(tasks):
            task.cancel()


@pytest.fixture(params=["native", "asgi"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Runner]:
    runner = Runner(request.param)
    yield runner
    await runner.stop()


class Wire:
    """The test's clients (one aiohttp session); everything is closed at teardown."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.session = aiohttp.ClientSession()
        self._peers: list[Peer] = []
        self._sockets: list[Ws] = []
        self._extra: list[aiohttp.ClientSession] = []

    @property
    def url(self) -> str:
        return self.runner.url

    def new_session(self, **kwargs: Any) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(**kwargs)
        self._extra.append(session)
        return session

    def polling(self, session: aiohttp.ClientSession | None = None) -> Polling:
        return Polling(session or self.session, self.url)

    async def ws(self, headers: dict[str, str] | None = None, **query: str) -> Ws:
        ws = await Ws.connect(self.session, self.url, headers=headers, **query)
        self._sockets.append(ws)
        return ws

    async def witness(self, transport: str = "websocket") -> Peer:
        """A well-behaved client in room ``w`` (where :func:`guarded` broadcasts)."""
        if transport == "websocket":
            peer = await Peer.websocket(self.session, self.url, auth={"witness": True})
        else:
            peer = await Peer.long_polling(self.session, self.url, auth={"witness": True})
        self._peers.append(peer)
        return peer

    async def raw(self, transport: str = "websocket", auth: Any = None) -> Raw:
        """A Socket.IO-connected client that sends what it is told (not in room ``w``)."""
        raw = await Raw.connect(self.session, self.url, transport, auth)
        if raw.ws is not None:
            self._sockets.append(raw.ws)
        return raw

    async def witnesses(self) -> list[Peer]:
        """One well-behaved client per transport."""
        return [await self.witness("websocket"), await self.witness("polling")]

    def adopt(self, peer: Peer) -> Peer:
        self._peers.append(peer)
        return peer

    async def close(self) -> None:
        for peer in self._peers:
            await peer.stop()
        for ws in self._sockets:
            await ws.close()
        for session in [self.session, *self._extra]:
            await session.close()


@pytest.fixture
async def wire(server: Runner) -> AsyncIterator[Wire]:
    clients = Wire(server)
    yield clients
    await clients.close()


@contextlib.asynccontextmanager
async def guarded(app: App, *peers: Peer, n: int = 10) -> AsyncIterator[None]:
    """Broadcast ticks 0..n-1 to room ``w``, run the body (the bad input), broadcast ticks
    n..2n-1; then every witness must have received all 2n ticks, in order, exactly once,
    still be connected, and get an answer to an acknowledged ``echo``."""
    for i in range(n):
        await app.sio.emit("tick", i, room="w")
    yield
    for i in range(n, 2 * n):
        await app.sio.emit("tick", i, room="w")
    for peer in peers:
        got = [(await peer.next("tick"))[0] for _ in range(2 * n)]
        assert got == list(range(2 * n))
        assert peer.queues["tick"].empty(), "a tick arrived twice"
        assert await peer.call("echo", "still here", peer.sid) == ["still here", peer.sid]
        assert peer.connected
        assert not app.is_disconnected(peer.sid or "")


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Wait (bounded) for ``predicate()`` to hold, checking every few milliseconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
