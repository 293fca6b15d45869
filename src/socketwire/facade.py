"""What ``Server`` and ``AsyncServer`` share: every operation and every dispatch decision.

The two public classes only add the few lines that differ: ``async def`` or ``def`` around
these methods, and how a handler is *run* (awaited as a task, or called on a worker thread).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from . import base
from .cluster import ClusterNode, Gathering, Query, Recipient, _describe
from .driver import Driver
from .engineio.core import DisconnectReason, EngineCore, Session
from .exceptions import BadNamespaceError, DisconnectedError, TimeoutError
from .managers.helpers import LocalManager
from .socketio.core import (
    CONNECTED,
    AckReceived,
    ConnectRequest,
    Disconnected,
    EventReceived,
    Socket,
    SocketIOCore,
)

if TYPE_CHECKING:
    from .admin import AdminAuth, Instrumentation
    from .socketio.core import Event

__all__ = ["FAILED", "Done", "Monitor", "ServerFacade"]

Done = Callable[[Any, BaseException | None], None]

#: what :meth:`ServerFacade._call_handler` returns when the handler raised
FAILED: Any = object()


class Monitor(Protocol):
    """The hook an observer of the server plugs into ``ServerFacade._monitor`` (the Admin
    UI: :mod:`socketwire.admin`). ``accepted`` and ``observe`` are called with the driver's
    lock held, inside a flush; none may block or call back into the server."""

    def accepted(self, socket: Socket) -> None:
        """``socket`` is connected (its CONNECT went out)."""

    def observe(self, events: list[Event]) -> None:
        """The core's events, before the server acts on them."""

    def sent(
        self, nsp: str, args: list[Any], rooms: list[str] | None, skip: list[str] | None
    ) -> None:
        """An emit of ``args`` (event name first) to ``nsp`` went out."""


class _EnvironView(Mapping[str, dict[str, Any]]):
    """The environs of the open Engine.IO sessions, by sid, without copying them."""

    __slots__ = ("_sessions",)

    def __init__(self, sessions: Mapping[str, Session]) -> None:
        self._sessions = sessions

    def __getitem__(self, sid: str) -> dict[str, Any]:
        return self._sessions[sid].request.environ

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._sessions))

    def __len__(self) -> int:
        return len(self._sessions)


class ServerFacade(base.HandlerRegistry):
    driver: Driver
    #: python-socketio's attribute, set by the runtime's class before this one's __init__
    async_mode: str

    def __init__(
        self,
        logger: bool | logging.Logger,
        async_handlers: bool,
        always_connect: bool,
        namespaces: Iterable[str] | str | None,
        connect_timeout: float,
        max_attachments: int,
        engineio_logger: bool | logging.Logger,
        kwargs: dict[str, Any],
        client_manager: Any = None,
    ) -> None:
        super().__init__(namespaces)
        self.logger = base.make_logger(logger, base.SOCKETIO_LOGGER)
        #: python-socketio's trace ("received event ...") is written (``logger=True``)
        self._trace = base.tracing(logger)
        engine_logger = base.make_logger(engineio_logger, base.ENGINEIO_LOGGER)
        self.async_handlers = async_handlers
        self.always_connect = always_connect
        #: what ``instrument()`` plugs in; None (the default) costs one test per emit/batch
        self._monitor: Monitor | None = None
        self.core = SocketIOCore(
            namespace_allowed=self.namespace_allowed,
            connect_timeout=connect_timeout,
            max_attachments=max_attachments,
            logger=self.logger,
            engineio_logger=engine_logger,
            json=base.json_module(kwargs.pop("json", None)),
            **base.engine_options(kwargs),
        )
        # the Engine.IO trace (packets in and out) is written by the driver
        self.core.engine.trace = engine_logger if base.tracing(engineio_logger) else None
        #: the message-queue manager joining this server to its cluster, if any
        self._cluster: Any = client_manager
        #: python-socketio's ``sio.manager``: the cluster manager, or a local one (queries)
        self.manager: Any = client_manager if client_manager is not None else LocalManager(self)
        if client_manager is not None:
            if not isinstance(client_manager, self._manager_type()):
                raise TypeError(
                    f"{type(self).__name__} needs a {self._manager_type().__name__} "
                    f"(AsyncRedisManager/AsyncAioPikaManager for AsyncServer, "
                    f"RedisManager/KombuManager for Server), not {type(client_manager).__name__}"
                )
            self._cluster.attach(self)
        self._initialized()

    # ------------------------------------------------------------------ operations

    def _initialized(self) -> None:
        """The first trace line, as python-socketio and python-engineio write it."""
        if self._trace:
            self.logger.info("Server initialized for %s.", self.async_mode)
        engine_trace = self.core.engine.trace
        if engine_trace is not None:
            engine_trace.info("Server initialized for %s.", self.async_mode)

    def _publish(self, build: Callable[..., dict[str, Any]], *args: Any) -> None:
        """Tell the other nodes (a no-op without a manager)."""
        if self._cluster is not None:
            self._cluster.publish(build(*args))

    def _remote(self, sid: str) -> bool:
        """True if ``sid`` may live on another node (not here, and there is a cluster)."""
        return self._cluster is not None and sid not in self.core.sockets

    def _emit(
        self,
        event: str,
        data: Any,
        to: Any,
        room: Any,
        skip_sid: Any,
        namespace: str | None,
        callback: Callable[..., Any] | None,
        ignore_queue: bool = False,
    ) -> int:
        nsp = namespace or "/"
        args = [event, *base.data_to_args(data)]
        rooms = base.targets(to, room)
        skip = base.skips(skip_sid)
        if self._trace:
            self.logger.info(
                'emitting event "%s" to %s [%s]', event, "all" if rooms is None else rooms, nsp
            )
        count = int(self.driver.run(self.core.emit, nsp, args, rooms, skip, callback))
        if self._monitor is not None:
            self._monitor.sent(nsp, args, rooms, skip)
        if self._cluster is not None and not ignore_queue:
            local = self.core.sockets
            if rooms is None or not all(name in local for name in rooms):
                self._publish(self._cluster.node.emit, nsp, args, rooms, skip, callback)
        return count

    def _call_start(
        self,
        event: str,
        data: Any,
        to: str | None,
        sid: str | None,
        namespace: str | None,
        callback: Callable[..., None],
    ) -> str:
        """Emit to one client with an ack callback; returns its sid."""
        target = to or sid
        if target is None:
            raise ValueError("call() needs the sid of one client (to=)")
        args = [event, *base.data_to_args(data)]
        if self._remote(target):
            # another node may own it: its ack comes back through the message queue
            self._publish(self._cluster.node.emit, namespace or "/", args, [target], None, callback)
            return target
        socket = self._socket(target, namespace)
        self.driver.run(self.core.emit, socket.nsp, args, [target], None, callback)
        if self._monitor is not None:
            self._monitor.sent(socket.nsp, args, [target], None)
        return socket.sid

    def _call_abandon(self, sid: str, callback: Callable[..., None]) -> None:
        socket = self.core.sockets.get(sid)
        if socket is not None:
            self.driver.run(self.core.forget_ack, socket, callback)
        if self._cluster is not None:
            self._cluster.node.forget(callback)

    def _fetch_start(
        self, room: str | None, namespace: str | None, done: Callable[[Query], None]
    ) -> Query:
        """Start a query for the sockets of ``namespace`` (in ``room``) on every node; the
        local part is filled in at once; ``done`` runs when the others have answered."""
        nsp = namespace or "/"
        rooms = None if room is None else [room]
        if self._cluster is None:
            query = Query(0, set(), done)
            with self.driver.lock:
                query.sockets.extend(_describe(self.core.adapter.select(nsp, rooms)))
            return query
        node: ClusterNode = self._cluster.node
        with self.driver.lock:
            query, message = node.fetch(nsp, rooms, None, node.clock(), done)
        if message is not None:
            self._cluster.publish(message)
        return query

    def _fetch_abandon(self, query: Query) -> str:
        if self._cluster is not None:
            with self.driver.lock:
                self._cluster.node.forget_query(query)
        return f"{len(query.waiting)} node(s) did not answer: {sorted(query.waiting)}"

    def _socket(self, sid: str, namespace: str | None) -> Socket:
        socket = self.core.sockets.get(sid)
        if socket is None:
            raise DisconnectedError(f"unknown sid {sid}")
        if namespace is not None and socket.nsp != namespace:
            raise BadNamespaceError(f"{sid} is not connected to {namespace}")
        return socket

    def _enter_room(self, sid: str, room: str, namespace: str | None) -> None:
        if self._remote(sid):
            self._publish(self._cluster.node.join, namespace or "/", [sid], None, [room])
            return
        if self._trace:
            self.logger.info("%s is entering room %s [%s]", sid, room, namespace or "/")
        with self.driver.lock:
            self.core.enter_room(self._socket(sid, namespace), room)

    def _leave_room(self, sid: str, room: str, namespace: str | None) -> None:
        if self._remote(sid):
            self._publish(self._cluster.node.leave, namespace or "/", [sid], None, [room])
            return
        if self._trace:
            self.logger.info("%s is leaving room %s [%s]", sid, room, namespace or "/")
        with self.driver.lock:
            self.core.leave_room(self._socket(sid, namespace), room)

    def _close_room(self, room: str, namespace: str | None, ignore_queue: bool = False) -> None:
        if self._trace:
            self.logger.info("room %s is closing [%s]", room, namespace or "/")
        with self.driver.lock:
            self.core.close_room(namespace or "/", room)
        if self._cluster is not None and not ignore_queue:
            self._publish(self._cluster.node.close_room, namespace or "/", room)

    # Node's server-side operations on a selection (``io.in(room).socketsJoin(...)`` etc.):
    # ``to`` is a room or sid, or a list of them (None: the whole namespace), less
    # ``skip_sid``; applied here at once and, with a message queue, on every other node.

    def _reaches_others(self, rooms: list[str] | None) -> bool:
        """True if a selection may match sockets of other nodes (as ``_emit`` decides)."""
        if self._cluster is None:
            return False
        return rooms is None or not all(name in self.core.sockets for name in rooms)

    def _sockets_join(
        self,
        rooms: str | Iterable[str],
        to: str | Iterable[str] | None,
        namespace: str | None,
        skip_sid: str | Iterable[str] | None,
        join: bool,
    ) -> None:
        nsp = namespace or "/"
        names = [rooms] if isinstance(rooms, str) else list(rooms)
        selection = base.targets(to, None)
        skip = base.skips(skip_sid)
        with self.driver.lock:
            operation = self.core.sockets_join if join else self.core.sockets_leave
            operation(nsp, selection, skip, names)
        if self._reaches_others(selection):
            node: ClusterNode = self._cluster.node
            self._publish(node.join if join else node.leave, nsp, selection, skip, names)

    def _disconnect_sockets(
        self,
        to: str | Iterable[str] | None,
        namespace: str | None,
        close: bool,
        skip_sid: str | Iterable[str] | None,
    ) -> None:
        nsp = namespace or "/"
        selection = base.targets(to, None)
        skip = base.skips(skip_sid)
        self.driver.run(self.core.disconnect_sockets, nsp, selection, skip, close)
        if self._reaches_others(selection):
            self._publish(self._cluster.node.kick, nsp, selection, skip, close)

    def _gather_start(
        self,
        event: str,
        data: Any,
        to: str | Iterable[str] | None,
        namespace: str | None,
        skip_sid: str | Iterable[str] | None,
        done: Callable[[Gathering], None],
    ) -> Gathering:
        """Emit ``event`` to the selection, on every node, each recipient with an ack
        request; ``done(gathering)`` runs once every recipient has answered or left."""
        nsp = namespace or "/"
        args = [event, *base.data_to_args(data)]
        selection = base.targets(to, None)
        skip = base.skips(skip_sid)
        gathering = Gathering(done)
        # a client's ack may run its callback on a worker thread (Server): take the lock
        recipient = Recipient(
            lambda answer: self.driver.run(gathering.answered, answer), gathering.lost
        )

        def start() -> dict[str, Any] | None:
            message = None
            if self._reaches_others(selection):
                node: ClusterNode = self._cluster.node
                message = node.gather(gathering, nsp, args, selection, skip, node.clock())
            local = self.core.emit_awaiting(nsp, args, selection, skip, recipient)
            if self._monitor is not None and local:
                self._monitor.sent(nsp, args, selection, skip)
            gathering.start(local, recipient)
            return message

        message = self.driver.run(start)
        if message is not None:
            self._cluster.publish(message)
        return gathering

    def _gather_abandon(self, gathering: Gathering, event: str) -> TimeoutError:
        """The caller stops waiting: forget the pending acks; the error to raise."""
        with self.driver.lock:
            if not gathering.finished:
                gathering.finish()
                for socket in gathering.sockets:
                    self.core.forget_ack(socket, gathering.recipient)
            responses = list(gathering.responses)
            text = f"acknowledgements of {event!r}: {gathering.describe()}"
        return TimeoutError(text, responses=responses)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms ``sid`` is in (its own sid room included)."""
        with self.driver.lock:
            socket = self.core.sockets.get(sid)
            if socket is None or (namespace is not None and socket.nsp != namespace):
                return []
            return list(socket.rooms)

    def _get_session(self, sid: str, namespace: str | None) -> dict[str, Any]:
        return self._socket(sid, namespace).session

    def _save_session(self, sid: str, session: dict[str, Any], namespace: str | None) -> None:
        self._socket(sid, namespace).session = session

    def _disconnect(self, sid: str, namespace: str | None, ignore_queue: bool = False) -> None:
        if not ignore_queue and self._remote(sid):
            self._publish(self._cluster.node.kick, namespace or "/", [sid], None)
            return
        if self._trace:
            self.logger.info("Disconnecting %s [%s]", sid, namespace or "/")
        with self.driver.lock:
            socket = self.core.sockets.get(sid)
            if socket is None or (namespace is not None and socket.nsp != namespace):
                return
            self.core.disconnect(socket)
            self.driver.flush()
        self.driver._after()

    def _shutdown(self) -> None:
        with self.driver.lock:
            for socket in list(self.core.sockets.values()):
                self.core.disconnect(socket)
            for session in list(self.core.engine.sessions.values()):
                self.core.engine.close(session, DisconnectReason.SERVER_DISCONNECT)
            self.driver.flush()
        self.driver._after()

    def transport(self, sid: str, namespace: str | None = None) -> str:
        """``'polling'`` or ``'websocket'``."""
        return self._socket(sid, namespace).client.session.transport

    def get_environ(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """The WSGI-style environ of the request that opened ``sid``'s connection."""
        return self._socket(sid, namespace).client.session.request.environ

    @property
    def eio(self) -> EngineCore:
        """python-socketio's ``sio.eio``: the Engine.IO layer, whose attributes are the
        engine options in force (``ping_interval``, ``allow_upgrades``, ``cookie``, ...)."""
        return self.core.engine

    @property
    def environ(self) -> Mapping[str, dict[str, Any]]:
        """python-socketio's ``sio.environ``: Engine.IO sid -> the environ of the request
        that opened the connection (read-only; Flask keeps the forked user session there
        under ``'saved_session'``)."""
        return _EnvironView(self.core.engine.sessions)

    def instrument(
        self,
        auth: AdminAuth | None = None,
        mode: str = "development",
        read_only: bool = False,
        server_id: str | None = None,
        namespace: str = "/admin",
        server_stats_interval: float = 2,
    ) -> Instrumentation:
        """Serve the Socket.IO Admin UI (https://admin.socket.io) on ``namespace``.

        ``auth`` is required: ``False`` (anyone), the credentials the UI must send (a dict,
        e.g. ``{'username': ..., 'password': ...}``), a list of such dicts, or a callable
        given the client's auth and returning True to admit it (``async`` on AsyncServer).
        ``mode='production'`` reports server statistics only, not each socket, room and
        event; ``read_only`` refuses the UI's operations (emit, join, leave, disconnect);
        ``server_id`` names this server in the UI (default: the host name);
        ``server_stats_interval`` is in seconds. See :mod:`socketwire.admin`."""
        from .admin import Instrumentation

        return Instrumentation(
            self, auth, mode, read_only, server_id, namespace, server_stats_interval
        )

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        core = self.core
        while core.events:
            events = core.take_events()
            if self._monitor is not None:
                self._monitor.observe(events)
            for event in events:
                try:
                    if isinstance(event, EventReceived):
                        self._on_event(event)
                    elif isinstance(event, AckReceived):
                        if self._trace:
                            self.logger.info(
                                "received ack from %s [%s]", event.socket.sid, event.socket.nsp
                            )
                        self._run(event.socket, event.callback, event.args, None)
                    elif isinstance(event, ConnectRequest):
                        self._on_connect(event)
                    elif isinstance(event, Disconnected):
                        self._on_disconnect(event)
                except Exception as exc:
                    # One client's event must not break the flush that writes everyone's
                    # output: that client is closed, the others go on.
                    self._dispatch_failed(event.socket, exc)

    def _dispatch_failed(self, socket: Socket, exc: Exception) -> None:
        self.logger.error(
            "closing connection %s: dispatching its packet raised %r",
            socket.client.session.sid,
            exc,
            exc_info=exc,
        )
        self.core.engine.close(socket.client.session, DisconnectReason.TRANSPORT_ERROR)

    def _on_event(self, event: EventReceived) -> None:
        socket = event.socket
        if socket.state is not CONNECTED:
            return  # disconnected by a handler of an earlier message of the same read
        if self._trace:
            self.logger.info('received event "%s" from %s [%s]', event.name, socket.sid, socket.nsp)
        fn, prefix = self.find_handler(socket.nsp, event.name)
        if fn is None:
            self.logger.info("no handler for event %r in %s", event.name, socket.nsp)
            return
        ack_id = event.ack_id
        done = None
        if ack_id is not None:

            def done(result: Any, exc: BaseException | None) -> None:
                if exc is None:
                    self.driver.run(self._ack, socket, ack_id, event.name, result)

        self._run(socket, fn, [*prefix, socket.sid, *event.args], done, kind="event")

    def _ack(self, socket: Socket, ack_id: int, name: str, result: Any) -> None:
        try:
            self.core.ack(socket, ack_id, base.ack_args(result))
        except (TypeError, ValueError) as exc:  # what the JSON encoder refuses
            self.logger.error(
                "the value the %r handler returned cannot be encoded, no ack sent: %s", name, exc
            )

    def _on_connect(self, event: ConnectRequest) -> None:
        socket = event.socket
        if self._cluster is not None:
            self._cluster.start()  # idempotent; an asyncio manager needs the running loop
        if self.always_connect:
            self._accept(socket)
        fn, prefix = self.find_handler(socket.nsp, "connect")
        if fn is None:
            self._accept(socket)
            return

        def done(result: Any, exc: BaseException | None) -> None:
            error = base.refusal(exc, result)
            if error is None:
                self.driver.run(self._accept, socket)
            elif self.always_connect:
                self.driver.run(lambda: self.core.disconnect(socket, silent=True))
            else:
                self.driver.run(self.core.refuse, socket, error)

        self._run(
            socket,
            fn,
            self.connect_args(fn, prefix, socket, event.auth),
            done,
            kind="lifecycle",
            expected=base.REFUSALS,
        )

    def _accept(self, socket: Socket) -> None:
        connecting = not socket.connected
        self.core.accept(socket)
        if connecting and socket.connected and self._monitor is not None:
            self._monitor.accepted(socket)

    def _on_disconnect(self, event: Disconnected) -> None:
        socket = event.socket
        self._abandon_calls(socket)
        if socket.acks:
            for callback in list(socket.acks.values()):
                if callback.__class__ is Recipient:
                    callback.gone()  # a broadcast awaiting acks no longer waits for it
        fn, prefix = self.find_handler(socket.nsp, "disconnect")
        if fn is None:
            self.core.forget(socket)
            return

        def done(result: Any, exc: BaseException | None) -> None:
            self.driver.run(self.core.forget, socket)

        self._run(
            socket,
            fn,
            self.disconnect_args(fn, prefix, socket, event.reason),
            done,
            kind="lifecycle",
        )

    def _handler_failed(self, fn: Callable[..., Any], exc: BaseException) -> None:
        self.logger.error("error in handler %s", getattr(fn, "__name__", fn), exc_info=exc)

    def _call_handler(
        self,
        fn: Callable[..., Any],
        args: list[Any],
        done: Done | None,
        expected: tuple[type[BaseException], ...],
    ) -> Any:
        """Call ``fn``; on an exception, log it (unless ``expected``), tell ``done`` and
        return :data:`FAILED`. The caller completes ``done`` with a successful result."""
        try:
            return fn(*args)
        except Exception as exc:
            if not isinstance(exc, expected):
                self._handler_failed(fn, exc)
            if done is not None:
                done(None, exc)
            return FAILED

    # ------------------------------------------------------------------ runtime hooks

    @staticmethod
    def _manager_type() -> type:
        """The manager base class this runtime works with."""
        raise NotImplementedError

    def _run(
        self,
        socket: Socket,
        fn: Callable[..., Any],
        args: list[Any],
        done: Done | None,
        kind: str = "ack",
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Run handler ``fn``; ``done(result, exc)`` gets the outcome. ``kind`` is "ack"
        (an ack callback: no ordering), "event" (in order per client when
        ``async_handlers`` is False) or "lifecycle" (connect/disconnect: always in order
        per client). Called with the driver's lock held: must not block."""
        raise NotImplementedError

    def _abandon_calls(self, socket: Socket) -> None:
        """``call()``s waiting on ``socket`` fail with DisconnectedError."""
        raise NotImplementedError
