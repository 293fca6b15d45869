"""``AsyncServer``: the Socket.IO server for asyncio applications (python-socketio's API)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from .. import base
from ..exceptions import BadNamespaceError, DisconnectedError, TimeoutError
from ..socketio.core import (
    AckReceived,
    ConnectRequest,
    Disconnected,
    EventReceived,
    Socket,
    SocketIOCore,
)
from .driver import AsyncDriver

__all__ = ["AsyncServer"]


class AsyncServer(base.HandlerRegistry):
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
        **kwargs: Any,
    ) -> None:
        super().__init__(namespaces)
        self.logger = base.make_logger(logger, logging.ERROR)
        self.async_handlers = async_handlers
        self.always_connect = always_connect
        self.core = SocketIOCore(
            namespace_allowed=self.namespace_allowed,
            connect_timeout=connect_timeout,
            max_attachments=max_attachments,
            logger=self.logger,
            engineio_logger=base.make_logger(engineio_logger, logging.ERROR),
            **base.engine_options(kwargs),
        )
        self.driver = AsyncDriver(self.core.engine, self._dispatch)
        self._chains: dict[str, asyncio.Future[Any]] = {}
        self._calls: dict[str, set[asyncio.Future[Any]]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()

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
        self.core.emit(
            namespace or "/",
            [event, *base.data_to_args(data)],
            base.targets(to, room),
            base.skips(skip_sid),
            callback,
        )
        self.driver.flush()

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
        await self.emit("message", data, to, room, skip_sid, namespace, callback)

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
        target = to or sid
        if target is None:
            raise ValueError("call() needs the sid of one client (to=)")
        socket = self._socket(target, namespace)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def callback(*args: Any) -> None:
            if not future.done():
                future.set_result(base.callback_result(list(args)))

        self.core.emit(socket.nsp, [event, *base.data_to_args(data)], [target], None, callback)
        self.driver.flush()
        pending = self._calls.setdefault(socket.sid, set())
        pending.add(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self.core.forget_ack(socket, callback)
            raise TimeoutError(f"no acknowledgement of {event!r} from {target}") from None
        finally:
            pending.discard(future)

    # ------------------------------------------------------------------ rooms & clients

    def _socket(self, sid: str, namespace: str | None) -> Socket:
        socket = self.core.sockets.get(sid)
        if socket is None:
            raise DisconnectedError(f"unknown sid {sid}")
        if namespace is not None and socket.nsp != namespace:
            raise BadNamespaceError(f"{sid} is not connected to {namespace}")
        return socket

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.core.enter_room(self._socket(sid, namespace), room)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.core.leave_room(self._socket(sid, namespace), room)

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        self.core.close_room(namespace or "/", room)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms ``sid`` is in (its own sid room included)."""
        socket = self.core.sockets.get(sid)
        if socket is None or (namespace is not None and socket.nsp != namespace):
            return []
        return list(socket.rooms)

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self._socket(sid, namespace).session

    async def save_session(
        self, sid: str, session: dict[str, Any], namespace: str | None = None
    ) -> None:
        self._socket(sid, namespace).session = session

    @contextlib.asynccontextmanager
    async def session(
        self, sid: str, namespace: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``async with sio.session(sid) as session:`` edits and saves the user session."""
        data = await self.get_session(sid, namespace)
        yield data
        await self.save_session(sid, data, namespace)

    async def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        """Disconnect ``sid`` from its namespace; its ``disconnect`` handler runs with
        reason ``'server disconnect'``."""
        socket = self.core.sockets.get(sid)
        if socket is None or (namespace is not None and socket.nsp != namespace):
            return
        self.core.disconnect(socket)
        self.driver.flush()

    async def shutdown(self) -> None:
        """Disconnect every client."""
        for socket in list(self.core.sockets.values()):
            self.core.disconnect(socket)
        for session in list(self.core.engine.sessions.values()):
            self.core.engine.close(session, base.DisconnectReason.SERVER_DISCONNECT)
        self.driver.flush()

    def transport(self, sid: str, namespace: str | None = None) -> str:
        """``'polling'`` or ``'websocket'``."""
        return self._socket(sid, namespace).client.session.transport

    def get_environ(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self._socket(sid, namespace).client.session.request.environ

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

    # ------------------------------------------------------------------ handlers

    def _dispatch(self) -> None:
        core = self.core
        while core.events:
            for event in core.take_events():
                if isinstance(event, EventReceived):
                    self._on_event(event)
                elif isinstance(event, AckReceived):
                    self._run(event.socket, event.callback, event.args, None)
                elif isinstance(event, ConnectRequest):
                    self._on_connect(event)
                elif isinstance(event, Disconnected):
                    self._on_disconnect(event)

    def _on_event(self, event: EventReceived) -> None:
        socket = event.socket
        fn, prefix = self.find_handler(socket.nsp, event.name)
        if fn is None:
            if self.logger:
                self.logger.info("no handler for event %r in %s", event.name, socket.nsp)
            return
        ack_id = event.ack_id
        done = None
        if ack_id is not None:

            def done(result: Any, exc: BaseException | None) -> None:
                if exc is None:
                    self.core.ack(socket, ack_id, base.ack_args(result))
                    self.driver.flush()

        self._run(socket, fn, [*prefix, socket.sid, *event.args], done, ordered=True)

    def _on_connect(self, event: ConnectRequest) -> None:
        socket = event.socket
        if self.always_connect:
            self.core.accept(socket)
        fn, prefix = self.find_handler(socket.nsp, "connect")
        if fn is None:
            self.core.accept(socket)
            return

        def done(result: Any, exc: BaseException | None) -> None:
            error = base.refusal(exc, result)
            if error is None:
                self.core.accept(socket)
            elif self.always_connect:
                self.core.disconnect(socket, silent=True)
            else:
                self.core.refuse(socket, error)
            self.driver.flush()

        self._run(
            socket,
            fn,
            self.connect_args(fn, prefix, socket, event.auth),
            done,
            expected=(base.ConnectionRefusedError,),
        )

    def _on_disconnect(self, event: Disconnected) -> None:
        socket = event.socket
        fn, prefix = self.find_handler(socket.nsp, "disconnect")
        if fn is not None:
            self._run(socket, fn, self.disconnect_args(fn, prefix, socket, event.reason), None)
        self._chains.pop(socket.sid, None)
        # calls awaiting this client's acknowledgement fail now rather than at their timeout
        for future in self._calls.pop(socket.sid, ()):
            if not future.done():
                future.set_exception(DisconnectedError(f"{socket.sid} disconnected"))

    def _run(
        self,
        socket: Socket,
        fn: Callable[..., Any],
        args: list[Any],
        done: Callable[[Any, BaseException | None], None] | None,
        ordered: bool = False,
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Call ``fn``; a coroutine is run as a task. ``done(result, exc)`` gets the outcome.
        Exceptions are logged (except ``expected`` ones) and never reach the transport."""
        try:
            result = fn(*args)
        except Exception as exc:
            if not isinstance(exc, expected):
                self.logger.exception("error in handler %s", getattr(fn, "__name__", fn))
            if done is not None:
                done(None, exc)
            return
        if not asyncio.iscoroutine(result):
            if done is not None:
                done(result, None)
            return
        if ordered and not self.async_handlers:
            previous = self._chains.get(socket.sid)
            task = asyncio.ensure_future(self._after(previous, result))
            self._chains[socket.sid] = task
        else:
            task = asyncio.ensure_future(result)
        self._tasks.add(task)

        def finished(task: asyncio.Future[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None and not isinstance(exc, expected):
                self.logger.error("error in handler %s", getattr(fn, "__name__", fn), exc_info=exc)
            if done is not None:
                done(task.result() if exc is None else None, exc)
            if self._chains.get(socket.sid) is task:
                del self._chains[socket.sid]

        task.add_done_callback(finished)

    @staticmethod
    async def _after(previous: asyncio.Future[Any] | None, coro: Any) -> Any:
        if previous is not None and not previous.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        return await coro
