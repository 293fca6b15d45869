"""Engine drivers: feed an :class:`EngineCore` with requests, WebSocket messages and time, and
write out what it produces. One driver per server; every runtime uses the same logic here and
differs only in its clock, its one timer, and whether entry points take a lock.

* :class:`AsyncDriver`: the asyncio runtime. Everything runs on the loop; the timer is one
  ``loop.call_at`` handle; no locks.
* :class:`ThreadDriver`: the threading runtime. Any thread may call in, so entry points hold
  the server's lock; the timer is one thread. Handles only queue output while the lock is
  held and write it after it is released, so a slow client never stalls the server.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import logging
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from . import ws
from .engineio import packet as pk
from .engineio.core import (
    UPGRADE_POLL_HOLD,
    EngineCore,
    PollWait,
    Request,
    Response,
    Session,
    WebSocketAccept,
)
from .engineio.packet import OutPacket
from .exceptions import ProtocolError

__all__ = ["AsyncDriver", "Driver", "Respond", "ThreadDriver", "WebSocketHandle"]

Respond = Callable[[Response], None]

logger = logging.getLogger("socketwire.server")


class WebSocketHandle(Protocol):
    """What a transport gives the driver for one accepted WebSocket. ``send_packets``,
    ``close`` and ``backlog`` are called with the driver's lock held: they must not block.

    ``backlog()`` is how much output (bytes, or characters of text frames) the handle holds
    that the client has not taken yet: the driver closes a client whose backlog passes the
    server's ``max_buffered_bytes`` ('slow consumer'). A handle may also have ``abort()``,
    which drops what is buffered and closes at once (used for that close)."""

    def send_packets(self, packets: list[OutPacket]) -> None: ...
    def close(self) -> None: ...
    def backlog(self) -> int: ...


class _NoLock:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class Driver:
    def __init__(self, engine: EngineCore, dispatch: Callable[[], None]) -> None:
        self.engine = engine
        #: runs the layer above's pending events (handlers); called on every flush
        self.dispatch = dispatch
        self.lock: Any = _NoLock()
        #: sessions whose long POST is being taken in (see ``_pump``)
        self._pumping: set[Session] = set()
        self._flushing = False

    # -------------------------------------------------------------- runtime hooks

    def now(self) -> float:
        raise NotImplementedError

    def _arm(self, deadline: float) -> None:
        raise NotImplementedError

    def _after(self) -> None:
        """Called after an entry point released the lock."""

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        raise NotImplementedError

    def _flush_soon(self) -> None:
        """Flush after input that arrives in bulk (WebSocket messages, polling requests);
        the asyncio runtime defers it to the end of the loop iteration, so the input of
        every connection read in one iteration shares one flush."""
        self.flush()

    # -------------------------------------------------------------- transports' entry

    def handle_http(
        self, request: Request, body: bytes, respond: Respond
    ) -> WebSocketAccept | PollWait | None:
        """Answer an HTTP request now or later through ``respond``. Returns the parked poll
        (:class:`PollWait`), or a WebSocket handshake for the transport to complete."""
        outcome: WebSocketAccept | PollWait | None = None
        trace = self.engine.trace
        if trace is not None:
            respond = _traced_http(trace, self.engine, request, body, respond)
        with self.lock:
            result = self.engine.handle_request(request, body, self.now())
            if isinstance(result, Response):
                session = self._held(request, result)
                if session is not None:
                    session.held_post = functools.partial(respond, result)
                    if session.inbound and not session.reads_paused:
                        self._pump_later(session)
                else:
                    respond(result)
            else:
                if isinstance(result, PollWait):
                    result.session.poll_waiter = respond
                outcome = result
            self._flush_soon()  # the POSTs of one loop iteration share a flush
        self._after()
        return outcome

    def _held(self, request: Request, response: Response) -> Session | None:
        """The session whose answer to this POST waits: its handlers are behind."""
        if request.method != "POST" or response.status != 200:
            return None
        session = self.engine.sessions.get(request.query.get("sid", ""))
        if session is None or session.closed:
            return None
        return session if session.reads_paused or session.inbound else None

    def _pump(self, session: Session) -> bool:
        """Take in the next slice of a long POST, run its handlers, write; answer the POST
        once all of it is in. True while there is more to take in now."""
        held = None
        with self.lock:
            more = False
            if not session.closed and not session.reads_paused:
                more = self.engine.take_in(session, self.now())
                self.flush()
            if session.closed or not (session.inbound or session.reads_paused):
                held, session.held_post = session.held_post, None
        self._after()
        if held is not None:
            held()
        return more and not session.reads_paused

    def _pump_later(self, session: Session) -> None:
        """Go on taking in a long POST on a later turn (the runtime's way)."""
        raise NotImplementedError

    def throttle(self, session: Session, on: bool) -> bool:
        """Stop (``on``) or resume reading a client whose handlers are behind. A WebSocket
        whose handle can pause reads does; on long-polling, the answer to its POSTs waits
        (a client sends its next POST only once the last is answered). False where reads
        cannot pause (the caller then closes a client over its cap)."""
        held = None
        with self.lock:
            handle = session.ws
            pause = getattr(handle, "throttle", None) if handle is not None else None
            if handle is not None and pause is None:
                return False
            session.reads_paused = on
            if not on:
                if session.inbound:
                    self._pump_later(session)  # the rest of a long POST, then the answer
                else:
                    held, session.held_post = session.held_post, None
        if pause is not None:
            pause(on)
        if held is not None:
            held()
        return True

    def payload_too_large(self, request: Request) -> Response:
        """The answer to a request whose body is over the limit (see the core)."""
        with self.lock:
            response = self.engine.payload_too_large(request, self.now())
            self.flush()
        self._after()
        return response

    def poll_aborted(self, session: Session, respond: Respond) -> None:
        """The client went away while its poll was parked."""
        with self.lock:
            if session.poll_waiter is respond:
                session.poll_waiter = None

    def ws_attached(self, accept: WebSocketAccept, ws: WebSocketHandle) -> None:
        session = accept.session
        if accept.reject:
            # Closed after the same hold as a poll refused mid-upgrade, so the client sees
            # the replies of its first WebSocket before this one closes.
            self.later(UPGRADE_POLL_HOLD, ws.close)
            return
        with self.lock:
            if session.closed:
                ws.close()
            else:
                if accept.probe:
                    session.probe_ws = ws
                else:
                    session.ws = ws
                self.engine._mark(session)
                self.flush()
        self._after()

    def ws_message(
        self, session: Session, ws: WebSocketHandle, data: str | bytes, defer: bool = True
    ) -> None:
        """One WebSocket message. ``defer=False`` flushes before returning, for a transport
        that writes the replies itself right after (ASGI)."""
        if self.engine.trace is not None:
            _trace_in(self.engine.trace, session.sid, [data])
        with self.lock:
            replies = self.engine.receive_ws(session, ws, data, self.now())
            if replies:
                if self.engine.trace is not None:
                    _trace_out(self.engine.trace, session.sid, [p.data for p in replies])
                ws.send_packets(replies)
            if defer:
                self._flush_soon()
            else:
                self.flush()
        self._after()

    def ws_messages(
        self, session: Session, ws: WebSocketHandle, messages: list[str | bytes]
    ) -> None:
        """Messages read together from one WebSocket. Each one's handlers run before the
        next goes in (a client may send an event right behind its CONNECT); what they all
        produce is written once, so k broadcasts read together cost each recipient one
        write instead of k."""
        if self.engine.trace is not None:
            _trace_in(self.engine.trace, session.sid, messages)
        with self.lock:
            for data in messages:
                replies = self.engine.receive_ws(session, ws, data, self.now())
                if replies:
                    ws.send_packets(replies)
                self._dispatch_only()
            self._flush_soon()
        self._after()

    def ws_closed(self, session: Session, ws: WebSocketHandle) -> None:
        with self.lock:
            self.engine.ws_closed(session, ws)
            self.flush()
        self._after()

    def ws_data(
        self,
        session: Session,
        ws_handle: WebSocketHandle,
        frames: ws.FrameParser,
        data: bytes,
        send_raw: Callable[[bytes], None],
    ) -> int | None:
        """Bytes read from a WebSocket the transport parses itself (native, WSGI): hand
        its messages to the core and answer pings with ``send_raw``. Returns None while the
        connection goes on, or the close code the transport must close it with (the peer's
        close frame: 1000; a framing error: its code) and then call :meth:`ws_closed`."""
        try:
            messages = frames.feed(data)
        except ws.WebSocketError as exc:
            logger.info("closing WebSocket: %s", exc)
            return exc.code
        if len(messages) == 1:  # the usual read
            opcode, payload = messages[0]
            if opcode == ws.TEXT or opcode == ws.BINARY:
                self.ws_message(session, ws_handle, payload)
                return None
        payloads: list[str | bytes] = []
        code = None
        for opcode, payload in messages:
            if opcode == ws.TEXT or opcode == ws.BINARY:
                payloads.append(payload)
            elif opcode == ws.PING:
                send_raw(ws.encode_frame(ws.PONG, payload))  # type: ignore[arg-type]
            elif opcode == ws.CLOSE:
                code = ws.NORMAL  # nothing after a close frame counts (RFC 6455 5.5.1)
                break
        if payloads:
            self.ws_messages(session, ws_handle, payloads)
        return code

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn`` (a core operation) under the lock, then write what it produced."""
        with self.lock:
            result = fn(*args)
            if self._flushing:
                # called from a handler inside this thread's flush: that flush writes it
                return result
            self.flush()
        self._after()
        return result

    # -------------------------------------------------------------- output

    def flush(self) -> None:
        """Run pending handlers, write every dirty session's output, re-arm the timer.
        Call with the lock held."""
        if self._flushing:
            return  # the outer flush loop picks the new work up
        self._flushing = True
        engine = self.engine
        try:
            while True:
                self.dispatch()
                dirty = engine.take_dirty()
                if not dirty:
                    break
                for session in dirty:
                    self._write(session)
        finally:
            self._flushing = False
        deadline = engine.next_deadline()
        if deadline is not None:
            self._arm(deadline)

    def _dispatch_only(self) -> None:
        """Run pending handlers now and leave what they write to the next flush."""
        if self._flushing:
            return
        self._flushing = True
        try:
            self.dispatch()
        finally:
            self._flushing = False

    def _write(self, session: Session) -> None:
        engine = self.engine
        waiter = session.poll_waiter
        if waiter is not None and engine.poll_ready(session):
            session.poll_waiter = None
            waiter(engine.poll_response(session))
        ws = session.ws
        if ws is not None:
            packets = engine.take_ws_output(session)
            if packets:
                if engine.trace is not None:
                    _trace_out(engine.trace, session.sid, [p.data for p in packets])
                ws.send_packets(packets)
                cap = engine.max_buffered_bytes
                if cap and ws.backlog() > cap:
                    engine.slow_consumer(session, len(packets), ws.backlog())
                    session.ws = None
                    getattr(ws, "abort", ws.close)()  # what it holds would never be read
                    return
            if session.closed:
                session.ws = None
                ws.close()
        if session.stale_ws is not None:
            stale, session.stale_ws = session.stale_ws, None
            stale.close()
        if session.closed and session.probe_ws is not None:
            probe, session.probe_ws = session.probe_ws, None
            probe.close()
        if session.held_post is not None and session.closed:
            held, session.held_post = session.held_post, None
            held()  # closed: nothing more of its POST to take in

    def on_timer(self) -> None:
        with self.lock:
            self.engine.handle_timer(self.now())
            self.flush()
        self._after()


# ------------------------------------------------------------------ the packet trace
# python-engineio's ``engineio_logger=True`` lines; only built when asked for.


def _describe(data: str | bytes) -> tuple[str, str]:
    if isinstance(data, bytes):
        return "MESSAGE", f"<binary, {len(data)} bytes>"
    try:
        type_, payload = pk.decode_packet(data)
    except ProtocolError:
        return "INVALID", repr(data[:200])
    return pk.PacketType(type_).name, repr(payload) if isinstance(payload, bytes) else payload


def _trace_in(trace: logging.Logger, sid: str, messages: list[str | bytes]) -> None:
    for data in messages:
        trace.info("%s: Received packet %s data %s", sid, *_describe(data))


def _trace_out(trace: logging.Logger, sid: str, messages: list[str | bytes]) -> None:
    for data in messages:
        trace.info("%s: Sending packet %s data %s", sid, *_describe(data))


def _payload_records(body: bytes, encoding: str | None) -> list[str | bytes]:
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    try:
        return list(body.decode().split(pk.SEPARATOR)) if body else []
    except UnicodeDecodeError:
        return []


def _traced_http(
    trace: logging.Logger, engine: EngineCore, request: Request, body: bytes, respond: Respond
) -> Respond:
    """``respond`` that also traces the packets of a polling exchange."""
    sid = request.query.get("sid")
    transport = request.query.get("transport")
    if request.method == "POST" and sid:
        try:
            received = pk.decode_payload(body) if body else []
        except ProtocolError:
            received = []
        for type_, data in received:
            trace.info(
                "%s: Received packet %s data %s",
                sid,
                pk.PacketType(type_).name,
                repr(data) if isinstance(data, bytes) else data,
            )
    elif transport == "websocket":
        trace.info("%s: Received request to upgrade to websocket", sid or "new session")

    def traced(response: Response) -> None:
        if request.method == "GET" and response.status == 200 and transport == "polling":
            encoding = dict((k.lower(), v) for k, v in response.headers).get("content-encoding")
            records = _payload_records(response.body, encoding)
            if records:
                first = records[0]
                opened = sid
                if not opened and isinstance(first, str) and first[:1] == "0":
                    opened = orjson.loads(first[1:]).get("sid")
                _trace_out(trace, opened or "?", records)
        respond(response)

    return traced


class AsyncDriver(Driver):
    """The asyncio runtime: ONE ``call_at`` handle for the core's next deadline."""

    def __init__(self, engine: EngineCore, dispatch: Callable[[], None]) -> None:
        super().__init__(engine, dispatch)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_pending = False

    def now(self) -> float:
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
            self.now = loop.time  # type: ignore[method-assign]
        return loop.time()

    def _arm(self, deadline: float) -> None:
        if self.loop is None:
            return
        if self._timer_at is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.on_timer()

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        self.now()
        assert self.loop is not None
        self.loop.call_later(delay, fn)

    def _flush_soon(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.now()
            assert self.loop is not None
            self.loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_pending = False
        self.flush()

    def _pump_later(self, session: Session) -> None:
        # one slice per turn of the loop: every other connection is served in between
        if session not in self._pumping:
            self._pumping.add(session)
            assert self.loop is not None
            self.loop.call_soon(self._pump_turn, session)

    def _pump_turn(self, session: Session) -> None:
        if self._pump(session):
            assert self.loop is not None
            self.loop.call_soon(self._pump_turn, session)
        else:
            self._pumping.discard(session)


class ThreadDriver(Driver):
    """The threading runtime: a lock around the core and ONE timer thread."""

    def __init__(self, engine: EngineCore, dispatch: Callable[[], None]) -> None:
        super().__init__(engine, dispatch)
        self.lock = threading.RLock()
        self._wakeup = threading.Condition(self.lock)
        self._timer_thread: threading.Thread | None = None
        self._armed_at: float | None = None
        self._stopped = False
        #: handles with queued output, drained after the lock is released
        self._pending: dict[Any, None] = {}
        self._delayed: list[tuple[float, Callable[[], None]]] = []

    def now(self) -> float:
        return time.monotonic()

    def _arm(self, deadline: float) -> None:
        if self._armed_at is not None and self._armed_at <= deadline:
            return
        self._armed_at = deadline
        if self._timer_thread is None:
            self._timer_thread = threading.Thread(
                target=self._timer_loop, name="socketwire-timer", daemon=True
            )
            self._timer_thread.start()
        else:
            self._wakeup.notify()

    def _timer_loop(self) -> None:
        engine = self.engine
        while True:
            with self.lock:
                while True:
                    if self._stopped:
                        return
                    deadline = engine.next_deadline()
                    if self._delayed:
                        first = min(when for when, _ in self._delayed)
                        deadline = first if deadline is None else min(deadline, first)
                    self._armed_at = deadline
                    now = time.monotonic()
                    if deadline is not None and deadline <= now:
                        break
                    self._wakeup.wait(None if deadline is None else deadline - now)
                now = time.monotonic()
                due = [fn for when, fn in self._delayed if when <= now]
                self._delayed = [(w, fn) for w, fn in self._delayed if w > now]
                engine.handle_timer(now)
                self.flush()
            for fn in due:
                fn()
            self._after()

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        with self.lock:
            self._delayed.append((time.monotonic() + delay, fn))
            self._arm(time.monotonic() + delay)

    def _pump_later(self, session: Session) -> None:
        # a thread of its own takes the POST in, releasing the lock between slices
        if session not in self._pumping:
            self._pumping.add(session)
            threading.Thread(
                target=self._pump_all, args=(session,), name="socketwire-post", daemon=True
            ).start()

    def _pump_all(self, session: Session) -> None:
        try:
            while self._pump(session):
                # Let the threads waiting for the lock (other clients' handlers and
                # requests) have it: a plain release is re-acquired here at once.
                time.sleep(0.001)
        finally:
            with self.lock:
                self._pumping.discard(session)
                again = session.inbound and not session.reads_paused and not session.closed
            if again:  # resumed between the last slice and the discard
                with self.lock:
                    self._pump_later(session)

    def queue_drain(self, handle: Any) -> None:
        """A handle queued output under the lock; drain it once the lock is released."""
        self._pending[handle] = None

    def _after(self) -> None:
        if not self._pending:
            return
        with self.lock:
            pending, self._pending = self._pending, {}
        for handle in pending:
            handle.drain()

    def stop(self) -> None:
        with self.lock:
            self._stopped = True
            self._wakeup.notify()
