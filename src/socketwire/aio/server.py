"""``AsyncServer``: the Socket.IO server for asyncio applications (python-socketio's API)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from types import CoroutineType
from typing import Any

from .. import base
from ..driver import AsyncDriver
from ..engineio.core import DisconnectReason
from ..exceptions import DisconnectedError, TimeoutError
from ..facade import FAILED, Done, ServerFacade
from ..socketio.core import Socket

__all__ = ["AsyncServer"]


#: python-socketio's asyncio ``async_mode`` values socketwire serves
ASYNC_MODES = ("asgi", "aiohttp", "sanic", "tornado")


class AsyncServer(ServerFacade):
    """A Socket.IO v5 server for asyncio.

    Handlers may be plain functions (called inline, in the order events arrive) or
    coroutines (run as tasks; with ``async_handlers=False`` one at a time per client, in
    order). Options and defaults follow python-socketio's ``AsyncServer``:
    ``cors_allowed_origins``, ``ping_interval`` (25 s), ``ping_timeout`` (20 s),
    ``max_http_buffer_size`` (1 MB), ``transports``, ``cookie``, ``http_compression``,
    ``always_connect``, ``namespaces``, ``logger``, ``engineio_logger``; plus
    ``connect_timeout`` (45 s, as Node's ``connectTimeout``) and ``max_attachments`` (10).
    """

    def __init__(
        self,
        client_manager: Any = None,
        logger: bool | logging.Logger = False,
        async_handlers: bool = True,
        always_connect: bool = False,
        namespaces: Iterable[str] | str | None = None,
        connect_timeout: float = 45,
        max_attachments: int = 10,
        engineio_logger: bool | logging.Logger = False,
        max_queued_events: int = 10_000,
        **kwargs: Any,
    ) -> None:
        #: python-socketio's attribute: the integration asked for ('asgi' unless told)
        self.async_mode: str = kwargs.get("async_mode") or "asgi"
        if self.async_mode not in ASYNC_MODES:
            raise ValueError(
                f"async_mode={self.async_mode!r} is not supported by AsyncServer: use one of "
                f"{', '.join(map(repr, ASYNC_MODES))} (socketwire's native server and any ASGI "
                "server take 'asgi')"
            )
        super().__init__(
            logger,
            async_handlers,
            always_connect,
            namespaces,
            connect_timeout,
            max_attachments,
            engineio_logger,
            kwargs,
            client_manager,
        )
        self.driver = AsyncDriver(self.core.engine, self._dispatch)
        self._chains: dict[str, asyncio.Future[Any]] = {}
        self._calls: dict[str, set[asyncio.Future[Any]]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        #: handlers of one client that await: over half of it the client's WebSocket is
        #: not read (native server) until they drop back; over all of it the client is
        #: closed, so one client cannot pile up unbounded tasks
        self.max_queued_events = max_queued_events
        self._inflight: dict[str, int] = {}

    # ------------------------------------------------------------------ emitting

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit ``event`` to one client (``to=sid``), a room, several, or every client of the
        namespace; ``data`` as a tuple sends several arguments. ``callback`` is called with
        each client's acknowledgement arguments."""
        self._emit(event, data, to, room, skip_sid, namespace, callback, ignore_queue)
        await self._backpressure()

    async def send(
        self,
        data: Any,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit the ``message`` event."""
        self._emit("message", data, to, room, skip_sid, namespace, callback, ignore_queue)
        await self._backpressure()

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emit to one client and wait for its acknowledgement; returns its argument (a
        tuple for several). Raises :class:`socketwire.TimeoutError` after ``timeout``, and
        :class:`socketwire.DisconnectedError` as soon as the client disconnects."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def callback(*args: Any) -> None:
            if not future.done():
                future.set_result(base.callback_result(list(args)))

        target = self._call_start(event, data, to, sid, namespace, callback)
        pending = self._calls.setdefault(target, set())
        pending.add(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self._call_abandon(target, callback)
            raise TimeoutError(f"no acknowledgement of {event!r} from {target}") from None
        finally:
            pending.discard(future)

    async def fetch_sockets(
        self, room: str | None = None, namespace: str | None = None, timeout: float = 5
    ) -> list[dict[str, Any]]:
        """The sockets of ``namespace`` (those in ``room``), on every node of the cluster,
        as ``{'sid', 'nsp', 'rooms'}`` (Node's ``fetchSockets``). Raises
        :class:`socketwire.TimeoutError` if an alive node does not answer in ``timeout``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(query: Any) -> None:
            if not future.done():
                future.set_result(None)

        query = self._fetch_start(room, namespace, done)
        if query.waiting:
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(self._fetch_abandon(query)) from None
        return query.sockets

    async def emit_with_ack(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
        timeout: float = 60,
    ) -> list[Any]:
        """Emit ``event`` to ``to`` (a room or sid, or a list; None: the whole namespace),
        except ``skip_sid``, asking every recipient for an acknowledgement; returns them all,
        in arrival order, each as ``call()`` would (Node's ``io.timeout(t).emitWithAck``).
        With a message queue the clients of every node are included. Raises
        :class:`socketwire.TimeoutError`, whose ``responses`` are those received, if not
        every recipient answered within ``timeout`` seconds. A recipient that disconnects
        first is no longer awaited (and has no entry in the list)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(gathering: Any) -> None:
            if not future.done():
                future.set_result(None)

        gathering = self._gather_start(event, data, to, namespace, skip_sid, done)
        if not gathering.finished:
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise self._gather_abandon(gathering, event) from None
            finally:
                if not gathering.finished:  # cancelled: forget the pending acks
                    self._gather_abandon(gathering, event)
        return gathering.responses

    def _abandon_calls(self, socket: Socket) -> None:
        for future in self._calls.pop(socket.sid, ()):
            if not future.done():
                future.set_exception(DisconnectedError(f"{socket.sid} disconnected"))

    # ------------------------------------------------------------------ rooms & clients

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self._enter_room(sid, room, namespace)
        await self._backpressure()

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self._leave_room(sid, room, namespace)
        await self._backpressure()

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        self._close_room(room, namespace)
        await self._backpressure()

    async def sockets_join(
        self,
        rooms: str | Iterable[str],
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
    ) -> None:
        """Put the sockets selected by ``to`` (a room or sid, or a list; None: every socket
        of the namespace), less ``skip_sid``, in ``rooms`` (one or several), on every node
        (Node's ``io.in(to).socketsJoin(rooms)``)."""
        self._sockets_join(rooms, to, namespace, skip_sid, join=True)
        await self._backpressure()

    async def sockets_leave(
        self,
        rooms: str | Iterable[str],
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
    ) -> None:
        """Take the selected sockets (as :meth:`sockets_join`) out of ``rooms``."""
        self._sockets_join(rooms, to, namespace, skip_sid, join=False)
        await self._backpressure()

    async def disconnect_sockets(
        self,
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        close: bool = False,
        skip_sid: str | Iterable[str] | None = None,
    ) -> None:
        """Disconnect the selected sockets (as :meth:`sockets_join`) on every node; with
        ``close``, close their clients' connections, leaving their other namespaces too
        (Node's ``io.in(to).disconnectSockets(close)``)."""
        self._disconnect_sockets(to, namespace, close, skip_sid)
        await self._backpressure()

    async def _backpressure(self) -> None:
        """A loop of emits gives the message-queue publisher its turn (see
        ``AsyncManager.drain``)."""
        if self._cluster is not None:
            await self._cluster.drain()

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self._get_session(sid, namespace)

    async def save_session(
        self, sid: str, session: dict[str, Any], namespace: str | None = None
    ) -> None:
        self._save_session(sid, session, namespace)

    @contextlib.asynccontextmanager
    async def session(
        self, sid: str, namespace: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``async with sio.session(sid) as session:`` edits and saves the user session."""
        data = self._get_session(sid, namespace)
        yield data
        self._save_session(sid, data, namespace)

    async def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        """Disconnect ``sid`` from its namespace; its ``disconnect`` handler runs with
        reason ``'server disconnect'``."""
        self._disconnect(sid, namespace, ignore_queue)

    async def shutdown(self) -> None:
        """Disconnect every client."""
        self._shutdown()

    async def handle_request(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer one ASGI request addressed to this server, whatever its path
        (python-socketio's ``AsyncServer.handle_request`` in ``'asgi'`` mode, for apps that
        route to Socket.IO themselves)."""
        from ..transports.asgi import ASGIApp

        await ASGIApp(self, socketio_path=None)(scope, receive, send)

    def is_asyncio_based(self) -> bool:
        return True

    def attach(self, app: Any, socketio_path: str = "socket.io") -> None:
        """Serve this server inside an ``aiohttp.web.Application`` or a ``sanic.Sanic``
        app (python-socketio's ``async_mode='aiohttp'`` / ``'sanic'``)."""
        from ..transports.attach import attach

        attach(self, app, socketio_path)

    # ------------------------------------------------------------------ tasks

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(target(*args, **kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def sleep(self, seconds: float = 0) -> None:
        await asyncio.sleep(seconds)

    @staticmethod
    def _manager_type() -> type:
        from ..managers.base import AsyncManager

        return AsyncManager

    # ------------------------------------------------------------------ handlers

    def _run(
        self,
        socket: Socket,
        fn: Callable[..., Any],
        args: list[Any],
        done: Done | None,
        kind: str = "ack",
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Call ``fn``; a coroutine is run as a task. Exceptions are logged (except
        ``expected`` ones) and never reach the transport."""
        result = self._call_handler(fn, args, done, expected)
        if result is FAILED:
            return
        if result.__class__ is not CoroutineType and not asyncio.iscoroutine(result):
            if done is not None:
                done(result, None)
            return
        if kind != "ack" and not self.async_handlers:
            previous = self._chains.get(socket.sid)
            task = asyncio.ensure_future(self._after(previous, result))
            self._chains[socket.sid] = task
        else:
            # Run the coroutine at once, up to its first real wait (as Python 3.12's eager
            # tasks do): most handlers finish without waiting, and their ack then leaves in
            # the same flush, with no Task created at all.
            try:
                first = result.send(None)
            except StopIteration as stop:
                if done is not None:
                    done(stop.value, None)
                return
            except Exception as exc:
                if not isinstance(exc, expected):
                    self._handler_failed(fn, exc)
                if done is not None:
                    done(None, exc)
                return
            task = asyncio.ensure_future(_Resume(result, first))
        self._tasks.add(task)
        sid = socket.sid
        count = self._inflight[sid] = self._inflight.get(sid, 0) + 1
        if count == self.max_queued_events // 2:
            self._throttle(socket, True)
        elif count > self.max_queued_events:
            self._flooded(socket)

        def finished(task: asyncio.Future[Any]) -> None:
            self._tasks.discard(task)
            left = self._inflight[sid] = self._inflight[sid] - 1
            if not left:
                del self._inflight[sid]
            elif left == self.max_queued_events // 4:
                self._throttle(socket, False)
            if self._chains.get(socket.sid) is task:
                del self._chains[socket.sid]
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None and not isinstance(exc, expected):
                self._handler_failed(fn, exc)
            if done is not None:
                done(task.result() if exc is None else None, exc)

        task.add_done_callback(finished)

    def _throttle(self, socket: Socket, on: bool) -> None:
        """Stop (or resume) reading ``socket``'s connection, where its transport can."""
        self.driver.throttle(socket.client.session, on)

    def _flooded(self, socket: Socket) -> None:
        if self._inflight.get(socket.sid, 0) != self.max_queued_events + 1:
            return  # closed once; its tasks are winding down
        if hasattr(socket.client.session.ws, "throttle"):
            return  # not read any more: what is left is the rest of one read, bounded
        self.logger.warning(
            "closing %s: more than %d handlers of it awaiting", socket.sid, self.max_queued_events
        )
        self.core.engine.close(socket.client.session, DisconnectReason.TRANSPORT_ERROR)
        self.driver.flush()

    @staticmethod
    async def _after(previous: asyncio.Future[Any] | None, coro: Any) -> Any:
        if previous is not None and not previous.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        return await coro


class _Resume:
    """The rest of a coroutine that was started eagerly and suspended on ``first`` (what it
    yielded): awaiting this hands ``first`` to the Task driving it, then forwards every
    result and exception to the coroutine until it returns."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Any:
        coro = self.coro
        to_yield = self.first
        self.first = None
        while True:
            try:
                value = yield to_yield
            except BaseException as exc:  # cancellation and the like go to the coroutine
                try:
                    to_yield = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                to_yield = coro.send(value)
            except StopIteration as stop:
                return stop.value
