"""The Socket.IO Admin UI (https://admin.socket.io, ``@socket.io/admin-ui``) for ``Server`` and
``AsyncServer``: python-socketio's ``sio.instrument(...)``.

Theory of operation
-------------------
:meth:`ServerFacade.instrument` makes one :class:`Instrumentation`. It serves the admin
namespace (``/admin``) with ordinary handlers, so the same code runs on ``AsyncServer`` (called
inline on the loop; an ``async`` auth callable is awaited) and on ``Server`` (worker threads):

* ``connect`` checks the credentials, then sends ``config`` (the features the UI may offer),
  ``session`` (a token the UI reconnects with instead of the password), ``server_stats`` and,
  in development mode, ``all_sockets``. The admin is still *connecting* then, so the core
  holds these and sends them right after its CONNECT.
* ``emit``, ``join``, ``leave``, ``_disconnect``: the UI's operations on the sockets of a
  namespace, all of them or those in the room (or with the sid) the filter names. Absent when
  ``read_only``.

In development mode the server reports what happens through its monitor hook
(``ServerFacade._monitor``: sockets accepted, events received, Socket.IO disconnections,
emits), and room changes come from the adapter, swapped for a watching subclass (socket.io's
own adapter reports "join-room"/"leave-room" the same way). Those calls arrive inside the
server, under its lock and often in the middle of a flush, where emitting would re-enter it:
they only append the admin event to an outbox, and a callback scheduled with
``driver.later(0, ...)`` emits the outbox, in order, from outside.

A timer (``driver.later``, re-armed each time, running only while an admin is connected)
emits ``server_stats`` every ``server_stats_interval`` seconds. The same tick notices
transport upgrades (``socket_updated``) and counts the Engine.IO sessions opened and closed
since the last tick (``aggregatedEvents``: ``rawConnection``, ``rawDisconnection``).

Events and their arguments follow ``lib/typed-events.ts`` of socketio/socket.io-admin-ui;
timestamps are ISO 8601 UTC strings (what a JavaScript ``Date`` becomes in JSON).
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import inspect
import logging
import os
import secrets
import socket as _socket
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .adapter import MemoryAdapter
from .driver import AsyncDriver
from .engineio.core import DisconnectReason
from .exceptions import BadNamespaceError, ConnectionRefusedError, DisconnectedError
from .socketio.core import Disconnected, EventReceived, Socket

if TYPE_CHECKING:
    from .facade import ServerFacade
    from .socketio.core import Event

__all__ = ["AdminAuth", "Instrumentation"]

logger = logging.getLogger("socketwire.admin")

#: ``False`` (no authentication), the expected credentials, a list of accepted ones, or a
#: callable given the client's ``auth`` and answering True to let it in (may be ``async``
#: on an ``AsyncServer``)
AdminAuth = bool | dict[str, Any] | list[dict[str, Any]] | Callable[[Any], Any]

HOSTNAME = _socket.gethostname()
MODES = ("development", "production")
#: what the UI may ask for unless ``read_only`` (the M* ones: on several sockets at once)
OPERATIONS = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
#: the refusal the UI recognises (it then shows its login form again)
REFUSAL = "invalid credentials"
#: session tokens remembered (the oldest is forgotten first)
MAX_SESSIONS = 256


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat()


def _same(expected: Any, given: Any) -> bool:
    """Equal credentials; strings are compared in constant time."""
    if isinstance(expected, str) and isinstance(given, str):
        return hmac.compare_digest(expected.encode(), given.encode())
    if isinstance(expected, dict) and isinstance(given, dict):
        return expected.keys() == given.keys() and all(
            _same(value, given[key]) for key, value in expected.items()
        )
    return bool(expected == given)


class _Counts:
    """``aggregatedEvents``: how many of each kind, per second (timestamps in ms)."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: dict[tuple[int, str], int] = {}

    def add(self, kind: str, count: int, now: float) -> None:
        if count:
            key = (int(now) * 1000, kind)
            self.buckets[key] = self.buckets.get(key, 0) + count

    def take(self) -> list[dict[str, Any]]:
        buckets, self.buckets = self.buckets, {}
        return [{"timestamp": ts, "type": kind, "count": n} for (ts, kind), n in buckets.items()]


class _Tracked:
    """A socket the UI was told about: the transport it was announced with, when it
    connected (None: before ``instrument()``)."""

    __slots__ = ("since", "socket", "transport")

    def __init__(self, socket: Socket, since: float | None) -> None:
        self.socket = socket
        self.transport = socket.client.session.transport
        self.since = since


class _WatchedAdapter(MemoryAdapter):
    """The in-memory adapter (sharing the maps of the one it replaces) that tells the admin
    about room changes of *connected* sockets: not the sid room a socket joins while
    connecting, nor the rooms it leaves once disconnected (``socket_disconnected`` says it)."""

    __slots__ = ("admin",)

    def __init__(self, admin: Instrumentation, wrapped: MemoryAdapter) -> None:
        super().__init__()
        self.namespaces = wrapped.namespaces
        self.rooms = wrapped.rooms
        self.admin = admin

    def join(self, socket: Socket, room: str) -> None:
        new = room not in socket.rooms
        super().join(socket, room)
        if new and socket.connected:
            self.admin._room_changed("room_joined", socket, room)

    def leave(self, socket: Socket, room: str) -> None:
        present = room in socket.rooms
        super().leave(socket, room)
        if present and socket.connected:
            self.admin._room_changed("room_left", socket, room)


class Instrumentation:
    """A server instrumented for the Admin UI (what ``sio.instrument(...)`` returns).

    ``auth``: ``False``, a dict of credentials (the UI sends ``username`` and ``password``),
    a list of dicts, or a callable given the client's auth (``async`` allowed on
    ``AsyncServer``). ``mode='production'`` reports only ``server_stats`` (no sockets, rooms
    or events); ``read_only`` turns the operations off. See the module docstring."""

    def __init__(
        self,
        server: ServerFacade,
        auth: AdminAuth | None = None,
        mode: str = "development",
        read_only: bool = False,
        server_id: str | None = None,
        namespace: str = "/admin",
        server_stats_interval: float = 2,
    ) -> None:
        self._async = isinstance(server.driver, AsyncDriver)
        _check_options(auth, mode, namespace, server_stats_interval, self._async)
        self.server = server
        self.auth = auth
        self.mode = mode
        self.read_only = read_only
        self.namespace = namespace
        self.interval = float(server_stats_interval)
        clustered = server._cluster is not None
        # several processes of one host must not share an id
        self.server_id = server_id or (f"{HOSTNAME}#{os.getpid()}" if clustered else HOSTNAME)
        self.features = [*(() if read_only else OPERATIONS), "AGGREGATED_EVENTS"]
        self.development = mode == "development"
        if self.development:
            self.features.append("ALL_EVENTS")
        self._started = time.monotonic()
        self._tokens: collections.deque[str] = collections.deque(maxlen=MAX_SESSIONS)
        self._counts = _Counts()
        self._tracked: dict[str, _Tracked] = {}
        self._outbox: list[tuple[str, Any]] = []
        self._draining = False
        self._ticking = False
        self._stopped = False
        self._handlers: dict[str, Callable[..., Any]] = {"connect": self._connect}
        if not read_only:
            self._handlers.update(
                emit=self._op_emit,
                join=self._op_join,
                leave=self._op_leave,
                _disconnect=self._op_disconnect,
            )
        core = server.core
        self._plain_adapter = core.adapter
        with server.driver.lock:
            self._seen = set(core.engine.sessions)
            for name, fn in self._handlers.items():
                server.on(name, fn, namespace=namespace)
            if self.development:
                for socket in core.sockets.values():
                    if socket.connected:
                        self._tracked[socket.sid] = _Tracked(socket, None)
                core.adapter = _WatchedAdapter(self, core.adapter)
                server._monitor = self

    def stop(self) -> None:
        """Stop serving the admin UI: no more reports, the admin namespace's handlers go
        (admins already connected stay, and hear nothing more)."""
        server = self.server
        with server.driver.lock:
            self._stopped = True
            if server._monitor is self:
                server._monitor = None
            adapter = server.core.adapter
            if isinstance(adapter, _WatchedAdapter) and adapter.admin is self:
                server.core.adapter = self._plain_adapter
            handlers = server.handlers.get(self.namespace, {})
            for name, fn in self._handlers.items():
                if handlers.get(name) == fn:
                    del handlers[name]
            if not handlers:
                server.handlers.pop(self.namespace, None)  # no longer served

    # ------------------------------------------------------------------ admin namespace

    def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> Any:
        token = auth.get("sessionId") if isinstance(auth, dict) else None
        if isinstance(token, str) and self._known_token(token):
            self._admit(sid, renew=False)
            return None
        verdict = self._verdict(auth)
        if inspect.isawaitable(verdict):
            if self._async:
                return self._connect_later(sid, verdict)
            if inspect.iscoroutine(verdict):
                verdict.close()
            logger.error("the admin auth callable is async: Server needs a plain function")
            raise ConnectionRefusedError(REFUSAL)
        if not verdict:
            raise ConnectionRefusedError(REFUSAL)
        self._admit(sid, renew=self.auth is not False)
        return None

    async def _connect_later(self, sid: str, verdict: Awaitable[Any]) -> None:
        if not await verdict:
            raise ConnectionRefusedError(REFUSAL)
        self._admit(sid, renew=True)

    def _verdict(self, auth: Any) -> Any:
        expected = self.auth
        if expected is False:
            return True
        if isinstance(expected, dict):
            return _same(expected, auth)
        if isinstance(expected, list):
            return any(_same(credentials, auth) for credentials in expected)
        assert callable(expected)
        return expected(auth)

    def _known_token(self, token: str) -> bool:
        found = False
        for known in list(self._tokens):
            found |= hmac.compare_digest(known.encode(), token.encode())
        return found

    def _admit(self, sid: str, renew: bool) -> None:
        """Welcome an authenticated admin (still connecting: what is emitted here is held
        until its CONNECT has gone out), and start the stats timer if it is not running."""
        server = self.server
        with server.driver.lock:
            stats = self._stats(take_events=False)
            sockets = (
                [self._serialize(s) for s in server.core.sockets.values() if s.connected]
                if self.development
                else None
            )
            start = not self._ticking and not self._stopped
            self._ticking = self._ticking or start
        self._send(sid, "config", {"supportedFeatures": list(self.features)})
        if renew:
            token = secrets.token_hex(16)
            self._tokens.append(token)
            self._send(sid, "session", token)
        self._send(sid, "server_stats", stats)
        if sockets is not None:
            self._send(sid, "all_sockets", sockets)
        if start:
            server.driver.later(self.interval, self._tick)

    def _send(self, sid: str, event: str, data: Any) -> None:
        self.server._emit(event, data, sid, None, None, self.namespace, None, True)

    def _op_emit(self, sid: str, *args: Any) -> None:
        if len(args) < 3 or not _names(args[0], args[2]) or not _filter(args[1]):
            logger.warning("admin %s: malformed emit %r", sid, args)
            return
        nsp, room_filter, event, *data = args
        self.server._emit(event, tuple(data), room_filter or None, None, None, nsp, None)

    def _op_join(self, sid: str, *args: Any) -> None:
        self._rooms_op(sid, "join", args, self.server._enter_room)

    def _op_leave(self, sid: str, *args: Any) -> None:
        self._rooms_op(sid, "leave", args, self.server._leave_room)

    def _rooms_op(
        self, sid: str, what: str, args: tuple[Any, ...], apply: Callable[[str, str, str], None]
    ) -> None:
        if len(args) < 2 or not _names(args[0], args[1]) or not _filter(_at(args, 2)):
            logger.warning("admin %s: malformed %s %r", sid, what, args)
            return
        nsp, room = args[0], args[1]
        for target in self._targets(nsp, _at(args, 2)):
            with contextlib.suppress(DisconnectedError, BadNamespaceError):
                apply(target, room, nsp)

    def _op_disconnect(self, sid: str, *args: Any) -> None:
        if len(args) < 1 or not _names(args[0]) or not _filter(_at(args, 2)):
            logger.warning("admin %s: malformed _disconnect %r", sid, args)
            return
        nsp, close = args[0], bool(_at(args, 1))
        core = self.server.core
        for target in self._targets(nsp, _at(args, 2)):
            socket = core.sockets.get(target)
            if close and socket is not None:
                # the whole connection, every namespace of it (Node's disconnect(true))
                self.server.driver.run(
                    core.engine.close, socket.client.session, DisconnectReason.SERVER_DISCONNECT
                )
            else:
                self.server._disconnect(target, nsp)

    def _targets(self, nsp: str, room_filter: str | None) -> list[str]:
        """The sids of ``nsp``'s connected sockets in ``room_filter`` (a room or a sid; all
        when empty). A sid that is not here may be on another node: the server's operations
        then publish to the cluster."""
        server = self.server
        rooms = [room_filter] if room_filter else None
        with server.driver.lock:
            found = [s.sid for s in server.core.adapter.select(nsp, rooms) if s.connected]
        if not found and room_filter and server._remote(room_filter):
            found = [room_filter]
        return found

    # ------------------------------------------------------------------ monitor hook

    def accepted(self, socket: Socket) -> None:
        now = time.time()
        self._tracked[socket.sid] = _Tracked(socket, now)
        self._queue("socket_connected", (self._serialize(socket), _iso(now)))

    def observe(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, EventReceived):
                socket = event.socket
                if socket.nsp != self.namespace:
                    args = [event.name, *event.args]
                    self._queue("event_received", (socket.nsp, socket.sid, args, _iso(time.time())))
            elif isinstance(event, Disconnected):
                socket = event.socket
                self._tracked.pop(socket.sid, None)
                self._queue(
                    "socket_disconnected", (socket.nsp, socket.sid, event.reason, _iso(time.time()))
                )

    def sent(
        self, nsp: str, args: list[Any], rooms: Iterable[str] | None, skip: Iterable[str] | None
    ) -> None:
        if nsp == self.namespace:
            return
        with self.server.driver.lock:
            now = _iso(time.time())
            for socket in self.server.core.adapter.select(nsp, rooms, skip):
                if socket.connected:
                    self._queue("event_sent", (nsp, socket.sid, args, now))

    def _room_changed(self, event: str, socket: Socket, room: str) -> None:
        self._queue(event, (socket.nsp, room, socket.sid, _iso(time.time())))

    def _queue(self, event: str, data: Any) -> None:
        """Append to the outbox (the driver's lock is held) and have it emitted soon."""
        if self._stopped:
            return
        self._outbox.append((event, data))
        if not self._draining:
            self._draining = True
            self.server.driver.later(0, self._drain)

    def _drain(self) -> None:
        with self.server.driver.lock:
            batch, self._outbox = self._outbox, []
            self._draining = False
        for event, data in batch:
            self.server._emit(event, data, None, None, None, self.namespace, None)

    # ------------------------------------------------------------------ stats timer

    def _tick(self) -> None:
        driver = self.server.driver
        try:
            with driver.lock:
                if self._stopped or not self.server.core.adapter.namespaces.get(self.namespace):
                    self._ticking = False  # the next admin to connect starts it again
                    return
                now = time.time()
                current = set(self.server.core.engine.sessions)
                self._counts.add("rawConnection", len(current - self._seen), now)
                self._counts.add("rawDisconnection", len(self._seen - current), now)
                self._seen = current
                if self.development:
                    self._check_sockets()
                self._outbox.append(("server_stats", self._stats(take_events=True)))
            self._drain()
        except Exception:
            logger.exception("admin UI: server_stats failed")
        driver.later(self.interval, self._tick)

    def _check_sockets(self) -> None:
        """Upgrades (``socket_updated``), and sockets gone without a disconnect event (a
        connect handler refusing after ``always_connect`` accepted)."""
        sockets = self.server.core.sockets
        for sid, tracked in list(self._tracked.items()):
            socket = tracked.socket
            if sockets.get(sid) is not socket:
                del self._tracked[sid]
                reason = DisconnectReason.SERVER_DISCONNECT.value
                self._outbox.append(
                    ("socket_disconnected", (socket.nsp, sid, reason, _iso(time.time())))
                )
                continue
            transport = socket.client.session.transport
            if transport != tracked.transport:
                tracked.transport = transport
                update = {"id": sid, "nsp": socket.nsp, "transport": transport}
                self._outbox.append(("socket_updated", update))

    def _stats(self, take_events: bool) -> dict[str, Any]:
        server = self.server
        core = server.core
        sessions = core.engine.sessions
        members = core.adapter.namespaces
        names = {*server.handlers, *server.namespace_handlers, *members, "/", self.namespace}
        names.discard("*")
        return {
            "serverId": self.server_id,
            "hostname": HOSTNAME,
            "pid": os.getpid(),
            "uptime": time.monotonic() - self._started,
            "clientsCount": len(sessions),
            "pollingClientsCount": sum(1 for s in sessions.values() if s.transport == "polling"),
            "aggregatedEvents": self._counts.take() if take_events else [],
            "namespaces": [
                {"name": name, "socketsCount": len(members.get(name, ()))} for name in sorted(names)
            ],
        }

    def _serialize(self, socket: Socket) -> dict[str, Any]:
        """A socket as the UI shows it (``SerializedSocket``). ``clientId`` is cut to 12
        characters, as Node's does: the whole Engine.IO sid would let one take the session
        over. ``data`` stays empty: the user session may hold anything, secrets included."""
        session = socket.client.session
        request = session.request
        environ = request.environ
        headers = dict(request.headers)
        tracked = self._tracked.get(socket.sid)
        since = tracked.since if tracked is not None else None
        query_string = environ.get("QUERY_STRING", "")
        address = (
            headers.get("cf-connecting-ip")
            or headers.get("x-forwarded-for")
            or environ.get("REMOTE_ADDR", "")
        )
        return {
            "id": socket.sid,
            "clientId": session.sid[:12],
            "transport": session.transport,
            "nsp": socket.nsp,
            "data": {},
            "handshake": {
                "address": address,
                "headers": headers,
                "query": dict(request.query),
                "secure": request.scheme in ("https", "wss"),
                "url": environ.get("PATH_INFO", "") + ("?" + query_string if query_string else ""),
                "issued": int(since * 1000) if since is not None else 0,
                "time": _iso(since) if since is not None else "",
                "xdomain": "origin" in headers,
            },
            "rooms": sorted(socket.rooms),
        }


def _check_options(
    auth: Any, mode: str, namespace: str, interval: float, asynchronous: bool
) -> None:
    if auth is None:
        raise ValueError(
            "instrument() needs auth: the credentials (a dict), a list of them, a callable, "
            "or False to let anyone in"
        )
    if auth is True or not (auth is False or isinstance(auth, (dict, list)) or callable(auth)):
        raise TypeError(f"auth must be False, a dict, a list of dicts or a callable, not {auth!r}")
    if isinstance(auth, (dict, list)) and not auth:
        raise ValueError("auth: empty credentials (use auth=False for no authentication)")
    if isinstance(auth, list) and not all(isinstance(c, dict) and c for c in auth):
        raise TypeError("auth: a list must hold dicts of credentials")
    if inspect.iscoroutinefunction(auth) and not asynchronous:
        raise TypeError("auth: Server calls a plain function; async callables need AsyncServer")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ValueError(f"namespace must start with '/', not {namespace!r}")
    if not interval > 0:
        raise ValueError("server_stats_interval must be positive")


def _names(*values: Any) -> bool:
    return all(isinstance(value, str) and value for value in values)


def _filter(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _at(args: tuple[Any, ...], index: int) -> Any:
    return args[index] if len(args) > index else None
