"""The asyncio runtime's engine driver: feeds an :class:`EngineCore` with requests, WebSocket
messages and time, and writes out what it produces.

It owns the only asyncio objects of a server: ONE timer handle (armed for the core's next
deadline) and the parked long-polling callbacks. Transports (native, ASGI) call it with
plain method calls; it never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from ..engineio.core import (
    UPGRADE_POLL_HOLD,
    EngineCore,
    PollWait,
    Request,
    Response,
    Session,
    WebSocketAccept,
)
from ..engineio.packet import OutPacket

Respond = Callable[[Response], None]


class WebSocketHandle(Protocol):
    """What a transport gives the driver for one accepted WebSocket."""

    def send_packets(self, packets: list[OutPacket]) -> None: ...
    def close(self) -> None: ...


class AsyncDriver:
    def __init__(self, engine: EngineCore, dispatch: Callable[[], None]) -> None:
        self.engine = engine
        #: runs the layer above's pending events (handlers); called on every flush
        self.dispatch = dispatch
        self.loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushing = False

    def _now(self) -> float:
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
        return loop.time()

    # ---------------------------------------------------------------- transports' entry

    def handle_http(
        self, request: Request, body: bytes, respond: Respond
    ) -> WebSocketAccept | PollWait | None:
        """Answer an HTTP request now or later through ``respond``. Returns the parked poll
        (:class:`PollWait`), or a WebSocket handshake for the transport to complete."""
        result = self.engine.handle_request(request, body, self._now())
        if isinstance(result, Response):
            respond(result)
            self.flush()
            return None
        if isinstance(result, PollWait):
            result.session.poll_waiter = respond
        self.flush()
        return result

    def poll_aborted(self, session: Session, respond: Respond) -> None:
        """The client went away while its poll was parked."""
        if session.poll_waiter is respond:
            session.poll_waiter = None

    def ws_attached(self, accept: WebSocketAccept, ws: WebSocketHandle) -> None:
        session = accept.session
        if accept.reject:
            # Closed after the same hold as a poll refused mid-upgrade, so the client sees
            # the replies of its first WebSocket before this one closes.
            self._now()
            assert self.loop is not None
            self.loop.call_later(UPGRADE_POLL_HOLD, ws.close)
            return
        if session.closed:
            ws.close()
            return
        if accept.probe:
            session.probe_ws = ws
        else:
            session.ws = ws
        self.engine._mark(session)
        self.flush()

    def ws_message(self, session: Session, ws: WebSocketHandle, data: str | bytes) -> None:
        replies = self.engine.receive_ws(session, ws, data, self._now())
        if replies:
            ws.send_packets(replies)
        self.flush()

    def ws_closed(self, session: Session, ws: WebSocketHandle) -> None:
        self.engine.ws_closed(session, ws)
        self.flush()

    # ---------------------------------------------------------------- output

    def flush(self) -> None:
        """Run pending handlers, write every dirty session's output, re-arm the timer."""
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
        self._arm()

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
                ws.send_packets(packets)
            if session.closed:
                session.ws = None
                ws.close()
        if session.stale_ws is not None:
            stale, session.stale_ws = session.stale_ws, None
            stale.close()
        if session.closed and session.probe_ws is not None:
            probe, session.probe_ws = session.probe_ws, None
            probe.close()

    # ---------------------------------------------------------------- time

    def _arm(self) -> None:
        deadline = self.engine.next_deadline()
        if deadline is None or self.loop is None:
            return
        if self._timer_at is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.engine.handle_timer(self._now())
        self.flush()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn`` on the driver's loop from any thread."""
        loop = self.loop
        if loop is None:
            raise RuntimeError("the server is not running")
        loop.call_soon_threadsafe(fn, *args)
