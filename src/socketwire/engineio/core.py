"""The Engine.IO v4 server, sans I/O.

Theory of operation
-------------------
:class:`EngineCore` owns every Engine.IO session of one server and makes every protocol
decision; it never touches a socket, a thread or an event loop. A runtime drives it:

* An HTTP request (long-polling GET/POST, or a WebSocket handshake) goes in through
  :meth:`EngineCore.handle_request`, with the body already read (the transport enforces
  ``max_http_buffer_size`` before buffering). It answers one of:

  - :class:`Response`: write it and finish;
  - :class:`PollWait`: a GET with nothing to send yet; the runtime parks it on
    ``session.poll_waiter`` and answers with :meth:`poll_response` once the session shows up
    in :meth:`take_dirty` with :meth:`poll_ready` true;
  - :class:`WebSocketAccept`: complete the WebSocket handshake and set ``session.ws`` (or
    ``session.probe_ws`` for an upgrade probe).

* WebSocket messages go in through :meth:`receive_ws`; the return value is what must be
  written straight back on *that* WebSocket (only the ``3probe`` answer uses this).
* Time goes in through :meth:`handle_timer`; :meth:`next_deadline` says when to call it.
  Every entry point also runs the timers already due, so a late timer never lets a
  timed-out session answer a request.
* Outgoing packets accumulate in ``session.outbox``; sessions with something to write (or
  that closed) are listed by :meth:`take_dirty`. The runtime writes them out.
* Engine-level happenings (open, message, close) are reported to the ``listener``, which is
  the Socket.IO core or, for a plain Engine.IO server, a queue the runtime drains.

Session states
--------------
========== ==================== ===================================================
state      event                next state / action
========== ==================== ===================================================
(none)     handshake GET / WS   OPEN: open packet queued, ping scheduled
OPEN       ping timer           OPEN: ``2`` queued, pong deadline scheduled
OPEN       ``3`` (pong)         OPEN: next ping scheduled
OPEN       ``2probe`` on new WS UPGRADING: ``3probe`` answered, parked poll gets ``6``
UPGRADING  ``5`` on probe WS    OPEN over websocket; outbox flushed there
UPGRADING  upgrade timeout      OPEN over polling; probe WebSocket closed
any        ``1``, bad packet,   CLOSED: listener told the reason; a parked poll gets
           pong deadline,       ``6`` (client close) or ``1`` (anything else)
           duplicate poll,
           server close
========== ==================== ===================================================
"""

from __future__ import annotations

import enum
import gzip
import secrets
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson

from .._timers import Timer, TimerQueue
from ..exceptions import HTTPError, ProtocolError
from . import packet as pk
from .packet import OutPacket, PacketType

__all__ = [
    "DisconnectReason",
    "EngineCore",
    "EngineListener",
    "PollWait",
    "Request",
    "Response",
    "Session",
    "WebSocketAccept",
]

#: how long after a client's close an in-flight poll of it still gets a clean noop (seconds)
CLIENT_CLOSE_GRACE = 1.0

#: packets in one long-polling response (python-engineio's client decodes at most 16)
MAX_POLL_PACKETS = 16

#: how long a poll arriving mid-upgrade is held (seconds)
UPGRADE_POLL_HOLD = 0.05

#: packets of one POST taken in at a time: a POST carrying more is taken in slice by slice
#: (the runtime yields between slices, so a 1 MB POST of tiny events cannot hold up the
#: other clients) and answered once the last slice is in
POST_SLICE = 256

#: cookie attribute names as written (RFC 6265 section 4.1.1), by lower-case key
COOKIE_ATTRIBUTES = {
    name.lower(): name
    for name in ("Path", "Domain", "Expires", "Max-Age", "SameSite", "Secure", "HttpOnly")
}

POLLING = "polling"
WEBSOCKET = "websocket"

ERROR_MESSAGES = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    4: "Forbidden",
    5: "Unsupported protocol version",
}


def choose_encoding(accept_encoding: str) -> str | None:
    """``gzip``, ``deflate`` or None for an Accept-Encoding header (RFC 9110 section 12.5.3:
    ``q=0`` means "not acceptable"; ``*`` stands for any coding not named)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name] = q
    best: str | None = None
    best_q = 0.0
    for coding in ("gzip", "deflate"):
        q = weights.get(coding, weights.get("*", 0.0))
        if q > best_q:
            best, best_q = coding, q
    return best


class DisconnectReason(str, enum.Enum):
    """Why a session ended; the values match python-socketio's ``reason`` strings."""

    CLIENT_DISCONNECT = "client disconnect"
    SERVER_DISCONNECT = "server disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    #: socketwire's own: the client took its output more slowly than it was produced, and
    #: its backlog passed ``max_buffered_bytes`` / ``max_buffered_packets``
    SLOW_CONSUMER = "slow consumer"

    def __str__(self) -> str:
        return self.value


class State(enum.IntEnum):
    OPEN = 1
    UPGRADING = 2
    CLOSED = 3


#: an empty answer, shared (never appended to)
_NO_PACKETS: list[OutPacket] = []

# Module-level aliases for the hot paths: reading an enum member costs ~100 ns on 3.11.
OPEN, UPGRADING, CLOSED = State.OPEN, State.UPGRADING, State.CLOSED
_MESSAGE, _PING, _PONG, _CLOSE, _NOOP = (
    int(PacketType.MESSAGE),
    int(PacketType.PING),
    int(PacketType.PONG),
    int(PacketType.CLOSE),
    int(PacketType.NOOP),
)


class Request:
    """An HTTP request as the transports hand it to the core."""

    __slots__ = ("_environ", "_environ_factory", "headers", "method", "query", "scheme")

    def __init__(
        self,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        environ_factory: Callable[[], dict[str, Any]],
        scheme: str = "http",
    ) -> None:
        self.method = method
        self.scheme = scheme
        self.query = query
        #: lower-case header names
        self.headers = headers
        self._environ_factory = environ_factory
        self._environ: dict[str, Any] | None = None

    @property
    def environ(self) -> dict[str, Any]:
        """A WSGI-style environ (``REQUEST_METHOD``, ``QUERY_STRING``, ``HTTP_*``, ...),
        built only when a session opens, as python-socketio passes it to ``connect``."""
        if self._environ is None:
            self._environ = self._environ_factory()
        return self._environ


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body[:60]!r})"


class PollWait:
    """A long-polling GET that must wait for data."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session


class WebSocketAccept:
    """Accept the WebSocket handshake; ``probe`` is True for an upgrade of a polling
    session (set ``session.probe_ws``), False for a new WebSocket-only session (set
    ``session.ws``). ``headers`` go into the handshake response.

    With ``reject`` set, complete the handshake and close the socket at once (a second
    WebSocket for a session that is upgrading or upgraded), as the reference server does:
    browsers cannot see the status of a refused handshake, only the close."""

    __slots__ = ("headers", "probe", "reject", "session")

    def __init__(
        self, session: Session, probe: bool, headers: list[tuple[str, str]], reject: bool = False
    ) -> None:
        self.session = session
        self.probe = probe
        self.headers = headers
        self.reject = reject


class Session:
    """One Engine.IO session. ``poll_waiter``, ``ws`` and ``probe_ws`` are opaque handles
    owned by the runtime; ``data`` is for the layer above (the Socket.IO client)."""

    __slots__ = (
        "_dirty",
        "close_packet",
        "close_reason",
        "closed",
        "data",
        "environ",
        "held_post",
        "inbound",
        "outbox",
        "outbox_bytes",
        "ping_queued",
        "poll_request",
        "poll_waiter",
        "probe_ws",
        "reads_paused",
        "release_poll",
        "request",
        "sid",
        "stale_ws",
        "state",
        "timer",
        "transport",
        "upgrade_timer",
        "upgraded_at",
        "ws",
    )

    def __init__(self, sid: str, transport: str, request: Request) -> None:
        self.sid = sid
        self.transport = transport
        self.request = request
        self.state = OPEN
        #: ``state is CLOSED``, kept as a plain attribute: it is read on every write
        self.closed = False
        self.outbox: list[OutPacket] = []
        #: the size of what is in ``outbox`` (characters or bytes), for the output cap
        self.outbox_bytes = 0
        #: the outstanding ping still sits in the outbox: a pong cannot be answering it
        self.ping_queued = False
        self.poll_waiter: Any = None
        #: the parked poll's request (its headers decide CORS and compression)
        self.poll_request: Request | None = None
        self.ws: Any = None
        self.probe_ws: Any = None
        #: the client's handlers are behind: its POSTs are answered only once they catch up
        self.reads_paused = False
        #: the answer to a POST held while ``reads_paused`` or ``inbound`` (opaque, owned
        #: by the runtime)
        self.held_post: Any = None
        #: the packets of a long POST not taken in yet (see :data:`POST_SLICE`), reversed
        self.inbound: list[tuple[int, str | bytes]] = []
        #: while upgrading: the parked poll may now be ended with a noop
        self.release_poll = False
        #: a probe WebSocket the runtime must close (the upgrade was abandoned)
        self.stale_ws: Any = None
        self.timer: Timer | None = None
        self.upgrade_timer: Timer | None = None
        self.upgraded_at = float("-inf")
        self.close_packet: OutPacket | None = None
        self.close_reason: DisconnectReason | None = None
        self.data: Any = None
        self._dirty = False

    def __repr__(self) -> str:
        return f"<Session {self.sid} {self.transport} {self.state.name}>"


class EngineListener(Protocol):
    def on_open(self, session: Session) -> None: ...
    def on_message(self, session: Session, data: str | bytes) -> None: ...
    def on_close(self, session: Session, reason: DisconnectReason) -> None: ...
    def on_timer(self, timer: Timer) -> None: ...


Origins = str | Iterable[str] | Callable[[str], bool] | None


class EngineCore:
    """All Engine.IO sessions of one server (see the module docstring)."""

    def __init__(
        self,
        listener: EngineListener,
        *,
        ping_interval: float = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        transports: Iterable[str] | None = None,
        cors_allowed_origins: Origins = None,
        cors_credentials: bool = True,
        cookie: str | Mapping[str, Any] | None = None,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        upgrade_timeout: float = 10,
        allow_upgrades: bool = True,
        max_buffered_bytes: int | None = 16 * 1024 * 1024,
        max_buffered_packets: int | None = 10_000,
        trusted_proxies: str | Iterable[str] | None = None,
        logger: Any = None,
    ) -> None:
        self.listener = listener
        self.ping_interval = float(ping_interval)
        self.ping_timeout = float(ping_timeout)
        self.max_http_buffer_size = int(max_http_buffer_size)
        allowed = tuple(transports) if transports else (POLLING, WEBSOCKET)
        for name in allowed:
            if name not in (POLLING, WEBSOCKET):
                raise ValueError(f"unknown transport {name!r}")
        self.transports = allowed
        self.cors_allowed_origins = cors_allowed_origins
        self.cors_credentials = cors_credentials
        self.cookie = cookie
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.upgrade_timeout = upgrade_timeout
        #: False: polling sessions stay on polling (python-engineio's ``allow_upgrades``)
        self.allow_upgrades = allow_upgrades
        #: a client whose output backlog passes either is closed ('slow consumer'); None: off
        self.max_buffered_bytes = max_buffered_bytes or 0
        self.max_buffered_packets = max_buffered_packets or 0
        #: peers whose X-Forwarded-Proto/-Host count in the same-origin check ('*': any)
        self.trusted_proxies: frozenset[str] = frozenset(
            [trusted_proxies] if isinstance(trusted_proxies, str) else trusted_proxies or ()
        )
        self.logger = logger
        #: where the driver writes python-engineio's packet trace (``engineio_logger=True``)
        self.trace: Any = None
        self.sessions: dict[str, Session] = {}
        self.timers = TimerQueue()
        #: the time of the call in progress, for the listener's own timers
        self.now = 0.0
        #: polling sessions the client closed with no poll parked: sid -> when. A poll of
        #: theirs that was already in flight gets the noop it would have got, not a 400.
        self._client_closed: dict[str, float] = {}
        self._dirty: list[Session] = []

    # ------------------------------------------------------------------ HTTP

    def handle_request(
        self, request: Request, body: bytes, now: float
    ) -> Response | PollWait | WebSocketAccept:
        """Answer one HTTP request to the Engine.IO path (module docstring)."""
        # A GET first runs the timers due, so a timed-out session is not revived by a late
        # timer; a POST is handled first: what it carries (a pong) arrived before we looked.
        if request.method == "GET":
            self.handle_timer(now)
        else:
            self.now = now
        try:
            return self._handle_request(request, body, now)
        finally:
            if request.method != "GET":
                self.handle_timer(now)

    def _handle_request(
        self, request: Request, body: bytes, now: float
    ) -> Response | PollWait | WebSocketAccept:
        cors = self._cors_headers(request)
        if cors is None:
            return self._error(HTTPError(403, 4, "Not an accepted origin"), [])
        if request.method == "OPTIONS":
            return Response(204, cors, b"")
        try:
            result = self._route(request, body, now, cors)
        except HTTPError as exc:
            if self.logger:
                self.logger.info("engine.io request refused: %s", exc.message)
            return self._error(exc, cors)
        return result

    def _route(
        self, request: Request, body: bytes, now: float, cors: list[tuple[str, str]]
    ) -> Response | PollWait | WebSocketAccept:
        query = request.query
        transport = query.get("transport")
        if transport not in self.transports:
            raise HTTPError(400, 0, ERROR_MESSAGES[0])
        is_ws = request.headers.get("upgrade", "").lower() == "websocket"
        if transport == WEBSOCKET and not is_ws:
            raise HTTPError(400, 3, ERROR_MESSAGES[3])
        sid = query.get("sid")
        if sid is None:
            if request.method != "GET":
                raise HTTPError(400, 2, ERROR_MESSAGES[2])
            if query.get("EIO") != "4":
                raise HTTPError(400, 5, ERROR_MESSAGES[5])
            return self._open(request, transport, now, cors)
        session = self.sessions.get(sid)
        if session is None:
            closed_at = self._client_closed.pop(sid, None)
            if (
                closed_at is not None
                and request.method == "GET"
                and transport == POLLING
                and now - closed_at < CLIENT_CLOSE_GRACE
            ):
                # the poll was already on its way when the client's close overtook it
                return Response(200, [("Content-Type", "text/plain; charset=UTF-8"), *cors], b"6")
            raise HTTPError(400, 1, ERROR_MESSAGES[1])
        if transport == WEBSOCKET:
            if not self.allow_upgrades:
                raise HTTPError(400, 3, ERROR_MESSAGES[3])
            # Only a polling session that is not already upgrading may upgrade.
            if session.transport != POLLING or session.probe_ws is not None:
                if self.logger:
                    self.logger.info("second WebSocket for session %s refused", sid)
                return WebSocketAccept(session, True, [], reject=True)
            session.upgrade_timer = self.timers.schedule(
                now + self.upgrade_timeout, "upgrade", session
            )
            return WebSocketAccept(session, True, [])
        if session.transport != POLLING:
            if (
                request.method == "GET"
                and session.poll_waiter is None
                and now - session.upgraded_at < UPGRADE_POLL_HOLD
            ):
                # Just upgraded: refuse after the hold, like a poll parked mid-upgrade, so
                # the refusal cannot overtake the replies on the new WebSocket.
                session.release_poll = False
                self.timers.schedule(session.upgraded_at + UPGRADE_POLL_HOLD, "release", session)
                return PollWait(session)
            raise HTTPError(400, 3, ERROR_MESSAGES[3])
        if request.method == "GET":
            return self._poll(session, request, cors)
        if request.method == "POST":
            return self._post(session, body, now, cors)
        raise HTTPError(400, 3, ERROR_MESSAGES[3])

    def _open(
        self, request: Request, transport: str, now: float, cors: list[tuple[str, str]]
    ) -> Response | WebSocketAccept:
        sid = secrets.token_urlsafe(15)
        session = Session(sid, transport, request)
        upgrades = (
            [WEBSOCKET]
            if transport == POLLING and WEBSOCKET in self.transports and self.allow_upgrades
            else []
        )
        handshake = orjson.dumps(
            {
                "sid": sid,
                "upgrades": upgrades,
                "pingInterval": round(self.ping_interval * 1000),
                "pingTimeout": round(self.ping_timeout * 1000),
                "maxPayload": self.max_http_buffer_size,
            }
        )
        session.outbox.append(OutPacket("0" + handshake.decode()))
        self.sessions[sid] = session
        session.timer = self.timers.schedule(now + self.ping_interval, "ping", session)
        cookie = self._cookie_header(sid)
        self.listener.on_open(session)
        if session.closed:  # the listener refused it outright
            raise HTTPError(403, 4, ERROR_MESSAGES[4])
        if transport == WEBSOCKET:
            self._mark(session)
            return WebSocketAccept(session, False, cookie)
        return self._payload_response(session, self._take_outbox(session), request, cors + cookie)

    def _poll(
        self, session: Session, request: Request, cors: list[tuple[str, str]]
    ) -> Response | PollWait:
        if session.poll_waiter is not None:
            # Two concurrent GETs: the first is answered with a close packet, the second
            # refused, the session closed (engine.io-protocol "duplicate poll requests").
            self.close(session, DisconnectReason.TRANSPORT_ERROR)
            raise HTTPError(400, 3, ERROR_MESSAGES[3])
        session.poll_request = request
        if self.poll_ready(session):
            return self.poll_response(session, cors)
        if session.state is UPGRADING:
            # A poll that arrives mid-upgrade is held briefly: if the client's ``5`` is
            # already on its way, the poll is refused (the session has left polling);
            # otherwise it ends with a noop. The reference server holds it up to 100 ms.
            self.timers.schedule(self.now + UPGRADE_POLL_HOLD, "release", session)
        return PollWait(session)

    def _post(
        self, session: Session, body: bytes, now: float, cors: list[tuple[str, str]]
    ) -> Response:
        if len(body) > self.max_http_buffer_size:
            raise HTTPError(413, 3, "Payload too large")
        if session.held_post is not None or session.inbound:
            # A client sends its next POST once the last one is answered; one sent while an
            # answer is held is an overlap (engine.io: "data request overlap from client").
            self.close(session, DisconnectReason.TRANSPORT_ERROR)
            raise HTTPError(400, 3, ERROR_MESSAGES[3])
        try:
            packets = pk.decode_payload(body)
        except ProtocolError as exc:
            self._protocol_error(session, exc)
            raise HTTPError(400, 3, ERROR_MESSAGES[3]) from exc
        if len(packets) > POST_SLICE:
            packets.reverse()
            session.inbound = packets
            self.take_in(session, now)
        else:
            for type_, data in packets:
                if session.closed:
                    break
                self._on_packet(session, type_, data, now)
        return Response(200, [("Content-Type", "text/html"), *cors], b"ok")

    def take_in(self, session: Session, now: float) -> bool:
        """Take in the next :data:`POST_SLICE` packets of a long POST; True while some
        are left (the runtime calls again on a later turn, unless reads are paused)."""
        self.now = now
        inbound = session.inbound
        for _ in range(min(POST_SLICE, len(inbound))):
            if session.closed:
                break
            type_, data = inbound.pop()
            self._on_packet(session, type_, data, now)
        if session.closed:
            inbound.clear()
        return bool(inbound)

    def payload_too_large(self, request: Request, now: float) -> Response:
        """A request whose body is over ``max_http_buffer_size`` (the transport stops
        reading it): 413, and its polling session is closed, since part of what the client
        sent is lost."""
        self.now = now
        session = self.sessions.get(request.query.get("sid", ""))
        if session is not None and session.transport == POLLING:
            self._protocol_error(session, ProtocolError("payload over max_http_buffer_size"))
        cors = self._cors_headers(request) or []
        return self._error(HTTPError(413, 3, "Payload too large"), cors)

    # ------------------------------------------------------------ long-polling output

    def poll_ready(self, session: Session) -> bool:
        """True when a parked poll of ``session`` can be answered now."""
        state = session.state
        if state is OPEN and session.transport == POLLING:
            return bool(session.outbox)
        if state is CLOSED:
            return True
        # Upgrading, or upgraded while a poll was parked: wait for the release timer.
        return session.release_poll

    def poll_response(
        self, session: Session, cors: list[tuple[str, str]] | None = None
    ) -> Response:
        """The answer to a poll of ``session`` (call when :meth:`poll_ready`)."""
        request = session.poll_request or session.request
        session.poll_request = None
        if cors is None:
            cors = self._cors_headers(request) or []
        if session.state is UPGRADING:
            # The outbox waits for the WebSocket; the poll just ends cleanly.
            session.release_poll = False
            return self._payload_response(session, [pk.NOOP], request, cors)
        if session.transport != POLLING and not session.closed:
            session.release_poll = False
            return self._error(HTTPError(400, 3, ERROR_MESSAGES[3]), cors)
        outbox = session.outbox
        if len(outbox) > MAX_POLL_PACKETS:
            # python-engineio clients refuse payloads of more than 16 packets; the rest goes
            # out with the next poll, which the client sends at once.
            packets = outbox[:MAX_POLL_PACKETS]
            del outbox[:MAX_POLL_PACKETS]
            session.outbox_bytes -= sum(len(packet.data) for packet in packets)
            return self._payload_response(session, packets, request, cors)
        packets = self._take_outbox(session)
        if session.closed and session.close_packet is not None:
            packets.append(session.close_packet)
            session.close_packet = None
        return self._payload_response(session, packets, request, cors)

    def _payload_response(
        self,
        session: Session,
        packets: list[OutPacket],
        request: Request,
        headers: list[tuple[str, str]],
    ) -> Response:
        body = pk.encode_payload(packets).encode()
        headers = [("Content-Type", "text/plain; charset=UTF-8"), *headers]
        if self.http_compression and len(body) >= self.compression_threshold:
            coding = choose_encoding(request.headers.get("accept-encoding", ""))
            if coding == "gzip":
                body = gzip.compress(body, 6)
                headers.append(("Content-Encoding", "gzip"))
            elif coding == "deflate":
                body = zlib.compress(body, 6)
                headers.append(("Content-Encoding", "deflate"))
        return Response(200, headers, body)

    # ------------------------------------------------------------------ WebSocket

    def receive_ws(
        self, session: Session, ws: Any, data: str | bytes, now: float
    ) -> list[OutPacket]:
        """A WebSocket message arrived on ``ws`` (``session.ws`` or ``session.probe_ws``).

        Returns packets to write straight back on ``ws`` (the probe answer)."""
        self.now = now
        try:
            if (
                data.__class__ is str
                and data[:1] == "4"
                and ws is session.ws
                and not session.closed
            ):
                self.listener.on_message(session, data[1:])  # the usual message
                return _NO_PACKETS
            return self._receive_ws(session, ws, data, now)
        finally:
            if self.timers.due(now):
                self.handle_timer(now)

    def _receive_ws(
        self, session: Session, ws: Any, data: str | bytes, now: float
    ) -> list[OutPacket]:
        if session.closed:
            return []
        if ws is not session.ws:
            return self._receive_probe(session, ws, data, now)
        if isinstance(data, str):
            try:
                type_, payload = pk.decode_packet(data)
            except ProtocolError as exc:
                self._protocol_error(session, exc)
                return []
        else:
            type_, payload = _MESSAGE, data
        self._on_packet(session, type_, payload, now)
        return []

    def _receive_probe(
        self, session: Session, ws: Any, data: str | bytes, now: float
    ) -> list[OutPacket]:
        if ws is not session.probe_ws:
            return []
        if data == "2probe" and session.state is OPEN:
            session.state = UPGRADING
            # A parked poll ends with a noop shortly (UPGRADE_POLL_HOLD), or is refused if
            # the client's ``5`` arrives first. Official clients end their poll before
            # sending ``5``; the hold only orders replies for clients that race.
            session.release_poll = False
            self.timers.schedule(now + UPGRADE_POLL_HOLD, "release", session)
            return [pk.PONG_PROBE]
        if data == "5" and session.state is UPGRADING:
            if session.upgrade_timer is not None:
                session.upgrade_timer.cancel()
                session.upgrade_timer = None
            session.state = OPEN
            session.transport = WEBSOCKET
            session.upgraded_at = now
            session.ws, session.probe_ws = session.probe_ws, None
            self._mark(session)
            return []
        if data == "6":
            return []
        # Anything else on a probe socket is a protocol violation: drop the probe only.
        self.abort_probe(session)
        return []

    def ws_closed(self, session: Session, ws: Any) -> None:
        """The runtime saw ``ws`` close (peer close frame, TCP reset, framing error)."""
        if ws is session.ws and not session.closed:
            self.close(session, DisconnectReason.TRANSPORT_CLOSE, send_close=False)
        elif ws is session.probe_ws:
            self.abort_probe(session)

    def abort_probe(self, session: Session) -> None:
        if session.upgrade_timer is not None:
            session.upgrade_timer.cancel()
            session.upgrade_timer = None
        if session.state is UPGRADING:
            session.state = OPEN
        if session.probe_ws is not None:
            session.stale_ws, session.probe_ws = session.probe_ws, None
        self._mark(session)

    # ------------------------------------------------------------------ packets

    def _on_packet(self, session: Session, type_: int, data: str | bytes, now: float) -> None:
        if type_ == _MESSAGE:
            self.listener.on_message(session, data)
        elif type_ == _PONG:
            timer = session.timer
            # Only a pong to a ping the client was handed counts: a client that never
            # reads (or never polls) cannot keep itself alive with blind pongs.
            if timer is not None and timer.kind == "pong" and not session.ping_queued:
                timer.cancel()
                session.timer = self.timers.schedule(now + self.ping_interval, "ping", session)
        elif type_ == _CLOSE:
            self.close(session, DisconnectReason.CLIENT_DISCONNECT, send_close=False)
        elif type_ == _NOOP or type_ == _PING:
            pass
        else:
            self._protocol_error(session, ProtocolError(f"unexpected packet type {type_}"))

    def _protocol_error(self, session: Session, exc: ProtocolError) -> None:
        if self.logger:
            self.logger.warning("closing engine.io session %s: %s", session.sid, exc)
        self.close(session, DisconnectReason.TRANSPORT_ERROR, send_close=False)

    # ------------------------------------------------------------------ output

    def send(self, session: Session, packet: OutPacket) -> None:
        """Queue ``packet`` for ``session`` (dropped if the session is closed)."""
        if session.state is CLOSED:
            return
        outbox = session.outbox
        outbox.append(packet)
        session.outbox_bytes += len(packet.data)
        if not session._dirty:
            session._dirty = True
            self._dirty.append(session)
        if (
            session.outbox_bytes > self.max_buffered_bytes > 0
            or len(outbox) > self.max_buffered_packets > 0
        ):
            self.slow_consumer(session, len(outbox), session.outbox_bytes)

    def send_many(self, sessions: Iterable[Session], packets: list[OutPacket]) -> None:
        """Queue the same encoded packets for many sessions (a broadcast)."""
        dirty = self._dirty
        closed = CLOSED
        size = sum(len(packet.data) for packet in packets)
        max_bytes = self.max_buffered_bytes or 1 << 62
        max_packets = self.max_buffered_packets or 1 << 62
        for session in sessions:
            if session.state is closed:
                continue
            outbox = session.outbox
            outbox.extend(packets)
            session.outbox_bytes += size
            if not session._dirty:
                session._dirty = True
                dirty.append(session)
            if session.outbox_bytes > max_bytes or len(outbox) > max_packets:
                self.slow_consumer(session, len(outbox), session.outbox_bytes)

    def slow_consumer(self, session: Session, packets: int, size: int) -> None:
        """``session``'s client takes its output too slowly: close it, dropping what is
        queued for it (it would never read it)."""
        if session.state is CLOSED:
            return
        if self.logger:
            self.logger.warning(
                "closing %s: slow consumer (%d packets, %d bytes waiting)",
                session.sid,
                packets,
                size,
            )
        session.outbox = []
        session.outbox_bytes = 0
        self.close(session, DisconnectReason.SLOW_CONSUMER, send_close=False)

    def take_dirty(self) -> list[Session]:
        """Sessions with output to write or a state change to act on, since the last call."""
        dirty = self._dirty
        if not dirty:
            return dirty
        self._dirty = []
        for session in dirty:
            session._dirty = False
        return dirty

    def take_ws_output(self, session: Session) -> list[OutPacket]:
        """What to write on ``session.ws`` now (empty while polling or upgrading); after a
        close this includes the close packet, and the runtime then closes the socket."""
        if session.transport != WEBSOCKET or session.ws is None:
            return _NO_PACKETS
        packets = session.outbox
        if not packets and not session.closed:
            return _NO_PACKETS
        session.outbox = []
        session.outbox_bytes = 0
        session.ping_queued = False
        if session.closed and session.close_packet is not None:
            packets.append(session.close_packet)
            session.close_packet = None
        return packets

    @staticmethod
    def _take_outbox(session: Session) -> list[OutPacket]:
        packets = session.outbox
        session.outbox = []
        session.outbox_bytes = 0
        session.ping_queued = False
        return packets

    def _mark(self, session: Session) -> None:
        if not session._dirty:
            session._dirty = True
            self._dirty.append(session)

    # ------------------------------------------------------------------ lifecycle

    def close(self, session: Session, reason: DisconnectReason, *, send_close: bool = True) -> None:
        """End ``session``; the listener hears ``reason``. ``send_close`` tells the client
        with a ``1`` packet (a parked poll gets ``6`` instead when the client closed)."""
        if session.state is CLOSED:
            return
        session.state = CLOSED
        session.closed = True
        session.close_reason = reason
        if reason is DisconnectReason.CLIENT_DISCONNECT:
            session.close_packet = pk.NOOP if session.transport == POLLING else None
            if session.transport == POLLING and session.poll_waiter is None:
                self._remember_client_close(session.sid)
        elif send_close:
            session.close_packet = pk.CLOSE
        elif session.transport == POLLING:
            session.close_packet = pk.CLOSE
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        if session.upgrade_timer is not None:
            session.upgrade_timer.cancel()
            session.upgrade_timer = None
        self.sessions.pop(session.sid, None)
        self._mark(session)
        self.listener.on_close(session, reason)

    def _remember_client_close(self, sid: str) -> None:
        closed = self._client_closed
        closed[sid] = self.now
        while closed:  # forget the old ones (insertion order is time order)
            first = next(iter(closed))
            if self.now - closed[first] < CLIENT_CLOSE_GRACE:
                break
            del closed[first]

    # ------------------------------------------------------------------ time

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``."""
        self.now = now
        if not self.timers.due(now):
            return
        for timer in self.timers.pop_due(now):
            session: Session = timer.target
            kind = timer.kind
            if kind == "ping":
                if session.state is CLOSED:
                    continue
                self.send(session, pk.PING)
                session.ping_queued = True
                # Counted from when the ping was due, so a late timer does not extend the
                # allowance; but never less than half of it, so an overloaded server does
                # not time out clients it was slow to ping.
                deadline = max(timer.when + self.ping_timeout, now + self.ping_timeout / 2)
                session.timer = self.timers.schedule(deadline, "pong", session)
            elif kind == "pong":
                if timer is not session.timer:
                    continue
                if session.reads_paused:
                    # We stopped reading it (its handlers are behind): its pong may be
                    # waiting unread. Asked again a full allowance later.
                    session.timer = self.timers.schedule(now + self.ping_timeout, "pong", session)
                    continue
                session.timer = None
                self.close(session, DisconnectReason.PING_TIMEOUT, send_close=False)
            elif kind == "release":
                session.release_poll = True
                self._mark(session)
            elif kind == "upgrade":
                if timer is session.upgrade_timer:
                    session.upgrade_timer = None
                    self.abort_probe(session)
            else:
                self.listener.on_timer(timer)

    # ------------------------------------------------------------------ CORS etc.

    def _cors_headers(self, request: Request) -> list[tuple[str, str]] | None:
        """CORS response headers, or None if the Origin is not allowed."""
        origin = request.headers.get("origin")
        if origin is None:
            return []
        allowed = self.cors_allowed_origins
        if isinstance(allowed, (list, tuple, set)) and not allowed:
            # python-engineio's convention: [] turns CORS handling off (a proxy does it)
            return []
        if allowed is None:
            ok = self._same_origin(request, origin)
        elif allowed == "*":
            ok = True
        elif isinstance(allowed, str):
            ok = origin == allowed
        elif callable(allowed):
            ok = bool(allowed(origin))
        else:
            ok = origin in allowed
        if not ok:
            return None
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self.cors_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if request.method == "OPTIONS":
            headers.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
            req_headers = request.headers.get("access-control-request-headers")
            if req_headers:
                headers.append(("Access-Control-Allow-Headers", req_headers))
        return headers

    def _same_origin(self, request: Request, origin: str) -> bool:
        headers = request.headers
        host = headers.get("host")
        if not host:
            return False
        scheme = request.scheme
        forwarded_host = None
        if ("x-forwarded-proto" in headers or "x-forwarded-host" in headers) and self._trusted(
            request
        ):
            scheme = headers.get("x-forwarded-proto") or scheme
            forwarded_host = headers.get("x-forwarded-host")
        if scheme in ("ws", "wss"):
            scheme = "http" if scheme == "ws" else "https"
        candidates = {f"{scheme}://{host}"}
        if forwarded_host:
            candidates.add(f"{scheme}://{forwarded_host}")
        return origin in candidates

    def _trusted(self, request: Request) -> bool:
        """Whether ``request`` came through a proxy whose ``X-Forwarded-*`` count."""
        trusted = self.trusted_proxies
        if not trusted:
            return False
        return "*" in trusted or request.environ.get("REMOTE_ADDR") in trusted

    def _cookie_header(self, sid: str) -> list[tuple[str, str]]:
        """python-engineio's ``cookie``: a name (then ``Path=/; SameSite=Lax; HttpOnly``), or
        a dict with ``name`` and the cookie's attributes, each a string, a boolean (a flag
        such as ``secure``: True sets it, False leaves it out) or a callable asked anew for
        every handshake (an ``expires`` date, say)."""
        cookie = self.cookie
        if not cookie:
            return []
        if isinstance(cookie, str):
            return [("Set-Cookie", f"{cookie}={sid}; Path=/; SameSite=Lax; HttpOnly")]
        parts = [f"{cookie.get('name', 'io')}={sid}"]
        for key, value in cookie.items():
            if key == "name":
                continue
            if callable(value):
                value = value()
            name = COOKIE_ATTRIBUTES.get(key.lower().replace("_", "-"), key)
            if value is True:
                parts.append(name)
            elif value is not False and value is not None:
                parts.append(f"{name}={value}")
        return [("Set-Cookie", "; ".join(parts))]

    @staticmethod
    def _error(exc: HTTPError, cors: list[tuple[str, str]]) -> Response:
        body = orjson.dumps({"code": exc.code, "message": exc.message})
        return Response(exc.status, [("Content-Type", "application/json"), *cors], body)
