"""Plain Engine.IO v4 servers (python-engineio's ``Server``/``AsyncServer`` API), for
applications that want Engine.IO without Socket.IO. Handlers: ``connect(sid, environ)``
(return False to refuse), ``message(sid, data)``, ``disconnect(sid, reason)``.

``connect`` runs inline, as the session opens. On the asyncio server ``message`` and
``disconnect`` may be coroutines (run as tasks); on the threaded server they run inline,
in order, on the thread that received the message: keep them short."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from . import base
from ._timers import Timer
from .driver import AsyncDriver, Driver, ThreadDriver
from .engineio import packet as pk
from .engineio.core import DisconnectReason, EngineCore, Session

__all__ = ["AsyncEngineServer", "EngineServer"]


class _EngineServerBase:
    reason = DisconnectReason
    driver: Driver

    def __init__(self, logger: bool | logging.Logger = False, **kwargs: Any) -> None:
        self.logger = base.make_logger(logger, base.ENGINEIO_LOGGER)
        self.engine = EngineCore(self, logger=self.logger, **base.engine_options(kwargs))
        self.engine.trace = self.logger if base.tracing(logger) else None
        self.handlers: dict[str, Callable[..., Any]] = {}
        self._events: list[tuple[str, Session, Any]] = []

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register a handler for ``connect``, ``message`` or ``disconnect``."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    def _send(self, sid: str, data: str | bytes) -> None:
        def send() -> None:
            session = self.engine.sessions.get(sid)
            if session is not None:
                self.engine.send(session, pk.message(data))

        self.driver.run(send)

    def _disconnect(self, sid: str | None) -> None:
        def close() -> None:
            engine = self.engine
            sessions = [engine.sessions.get(sid)] if sid else list(engine.sessions.values())
            for session in sessions:
                if session is not None:
                    engine.close(session, DisconnectReason.SERVER_DISCONNECT)

        self.driver.run(close)

    # EngineListener: queue, then run handlers from the driver's flush
    def on_open(self, session: Session) -> None:
        fn = self.handlers.get("connect")
        if fn is None:
            return
        try:
            result = fn(session.sid, session.request.environ)
        except Exception:
            self.logger.exception("error in connect handler")
            result = False
        if result is False:
            self.engine.close(session, DisconnectReason.SERVER_DISCONNECT)
        else:
            self._started(result)

    def on_message(self, session: Session, data: str | bytes) -> None:
        self._events.append(("message", session, data))

    def on_close(self, session: Session, reason: DisconnectReason) -> None:
        self._events.append(("disconnect", session, str(reason)))

    def on_timer(self, timer: Timer) -> None:
        pass

    def _dispatch(self) -> None:
        while self._events:
            events, self._events = self._events, []
            for name, session, arg in events:
                fn = self.handlers.get(name)
                if fn is None:
                    continue
                try:
                    result = fn(session.sid, arg)
                except Exception:
                    self.logger.exception("error in %s handler", name)
                    continue
                self._started(result)

    def _started(self, result: Any) -> None:
        """What a handler returned (a coroutine on the asyncio server)."""


class AsyncEngineServer(_EngineServerBase):
    """The asyncio plain Engine.IO server."""

    def __init__(self, logger: bool | logging.Logger = False, **kwargs: Any) -> None:
        super().__init__(logger, **kwargs)
        self.driver = AsyncDriver(self.engine, self._dispatch)
        self._tasks: set[asyncio.Future[Any]] = set()

    async def send(self, sid: str, data: str | bytes) -> None:
        self._send(sid, data)

    async def disconnect(self, sid: str | None = None) -> None:
        self._disconnect(sid)

    def attach(self, app: Any, engineio_path: str = "engine.io") -> None:
        """Serve this server inside an ``aiohttp.web.Application`` or a ``sanic.Sanic``
        app (python-engineio's ``attach``)."""
        from .transports.attach import attach

        attach(self, app, engineio_path)

    def _started(self, result: Any) -> None:
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class EngineServer(_EngineServerBase):
    """The threaded plain Engine.IO server."""

    def __init__(self, logger: bool | logging.Logger = False, **kwargs: Any) -> None:
        super().__init__(logger, **kwargs)
        self.driver = ThreadDriver(self.engine, self._dispatch)

    def send(self, sid: str, data: str | bytes) -> None:
        self._send(sid, data)

    def disconnect(self, sid: str | None = None) -> None:
        self._disconnect(sid)
