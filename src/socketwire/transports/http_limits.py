"""The native server's HTTP limits and the one timer that enforces its timeouts.

The limits are those uvicorn, h11 and Node's ``http`` server put in front of a request, with
safe defaults; each is an option of :func:`socketwire.run`, ``create_server`` and the
``socketwire run`` command line (see the README's Security section).

Timeouts cost no timer per connection: a connection that waits for its client records a
deadline in a :class:`DeadlineWheel`, which files it under the second it falls in; ONE
loop timer per server wakes once a second while any deadline is pending and looks only at
the connections of the seconds that have passed. A connection whose deadline moved (it got
its bytes in time) is simply skipped when its old second comes up.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["DeadlineWheel", "HttpLimits"]


@dataclass(frozen=True)
class HttpLimits:
    """What one client may make the native server hold, and for how long.

    ``None`` turns a limit off."""

    #: request line and headers together, bytes; over it: 431, then the connection closes
    max_header_size: int = 16 * 1024
    #: seconds from a request's first byte (or the connection's start) to its last header
    #: byte; over it: 408, then close (a slowloris client holds nothing for long)
    header_timeout: float | None = 20.0
    #: seconds the server waits for the next piece of a request body; over it: 408, close
    body_timeout: float | None = 30.0
    #: seconds an idle keep-alive connection is kept between requests
    keep_alive_timeout: float | None = 5.0
    #: requests read ahead of the one being answered; beyond, the server stops reading the
    #: connection until it catches up (pipelining cannot queue unbounded work)
    max_pipelined: int = 16
    #: open connections; a new one beyond gets 503 and is closed (uvicorn's
    #: ``limit_concurrency``); None: bounded by the process's file descriptors only
    limit_concurrency: int | None = None
    #: the largest request body buffered for the wrapped ASGI/WSGI app (Engine.IO requests
    #: are bounded by the server's ``max_http_buffer_size``); over it: 413
    max_app_body_size: int = 16 * 1024 * 1024

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> HttpLimits:
        """Take this class's fields out of ``options`` (what is left is not ours)."""
        names = cls.__dataclass_fields__
        return cls(**{name: options.pop(name) for name in list(options) if name in names})


class _Timed(Protocol):
    deadline: float

    def deadline_passed(self) -> None: ...


class DeadlineWheel:
    """Deadlines of many connections on one loop timer (see the module docstring)."""

    __slots__ = ("_buckets", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, list[_Timed]] = {}
        self._handle: asyncio.TimerHandle | None = None

    def set(self, item: _Timed, delay: float | None) -> None:
        """``item.deadline_passed()`` runs once ``delay`` seconds have passed, unless its
        deadline is changed or cleared (0) first. ``delay`` None clears it."""
        if delay is None:
            item.deadline = 0.0
            return
        when = self._loop.time() + delay
        item.deadline = when
        self._buckets.setdefault(math.ceil(when), []).append(item)
        if self._handle is None:
            self._handle = self._loop.call_later(1.0, self._sweep)

    def clear(self, item: _Timed) -> None:
        item.deadline = 0.0

    def _sweep(self) -> None:
        self._handle = None
        now = self._loop.time()
        due = [second for second in self._buckets if second <= now]
        expired: list[_Timed] = []
        for second in sorted(due):
            for item in self._buckets.pop(second):
                if 0 < item.deadline <= now:
                    item.deadline = 0.0
                    expired.append(item)
        for item in expired:
            _guarded(item.deadline_passed)
        if self._buckets:
            self._handle = self._loop.call_later(1.0, self._sweep)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._buckets.clear()


def _guarded(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # one connection's failure must not stop the others' timeouts
        logging.getLogger("socketwire.server").exception("error in a connection timeout")
