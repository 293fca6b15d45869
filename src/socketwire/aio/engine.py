"""A plain Engine.IO v4 server for asyncio (python-engineio's ``AsyncServer`` API), for
applications that want Engine.IO without Socket.IO. Handlers: ``connect(sid, environ)``
(return False to refuse), ``message(sid, data)``, ``disconnect(sid, reason)``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .. import base
from .._timers import Timer
from ..driver import AsyncDriver
from ..engineio import packet as pk
from ..engineio.core import DisconnectReason, EngineCore, Session

__all__ = ["AsyncEngineServer"]


class AsyncEngineServer:
    reason = DisconnectReason

    def __init__(self, logger: bool | logging.Logger = False, **kwargs: Any) -> None:
        self.logger = base.make_logger(logger, logging.ERROR)
        self.engine = EngineCore(self, logger=self.logger, **base.engine_options(kwargs))
        self.driver = AsyncDriver(self.engine, self._dispatch)
        self.handlers: dict[str, Callable[..., Any]] = {}
        self._events: list[tuple[str, Session, Any]] = []
        self._tasks: set[asyncio.Future[Any]] = set()

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    async def send(self, sid: str, data: str | bytes) -> None:
        session = self.engine.sessions.get(sid)
        if session is not None:
            self.engine.send(session, pk.message(data))
            self.driver.flush()

    async def disconnect(self, sid: str | None = None) -> None:
        sessions = [self.engine.sessions.get(sid)] if sid else list(self.engine.sessions.values())
        for session in sessions:
            if session is not None:
                self.engine.close(session, DisconnectReason.SERVER_DISCONNECT)
        self.driver.flush()

    # EngineListener: queue, then run handlers from the driver's flush
    def on_open(self, session: Session) -> None:
        fn = self.handlers.get("connect")
        if fn is not None:
            try:
                result = fn(session.sid, session.request.environ)
            except Exception:
                self.logger.exception("error in connect handler")
                result = False
            if result is False:
                self.engine.close(session, DisconnectReason.SERVER_DISCONNECT)

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
                if asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
