"""A single timer queue for the sans-I/O cores.

Every deadline of the server (heartbeats, upgrade and connect timeouts, ack timeouts) lives
here; the runtime arms ONE real timer for ``next_deadline()`` and calls back with the time.
Cancelled entries stay in the heap and are skipped when they surface (lazy deletion), which
keeps both scheduling and cancelling O(log n) / O(1).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Any


class Timer:
    """A scheduled callback key; ``cancel()`` makes it inert."""

    __slots__ = ("active", "kind", "target", "when")

    def __init__(self, when: float, kind: Hashable, target: Any) -> None:
        self.when = when
        self.kind = kind
        self.target = target
        self.active = True

    def cancel(self) -> None:
        self.active = False


class TimerQueue:
    __slots__ = ("_counter", "_heap")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._counter = itertools.count()

    def schedule(self, when: float, kind: Hashable, target: Any) -> Timer:
        timer = Timer(when, kind, target)
        heapq.heappush(self._heap, (when, next(self._counter), timer))
        return timer

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: float) -> bool:
        """True if a timer (maybe a cancelled one) is due at ``now``: a cheap check first."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now

    def pop_due(self, now: float) -> list[Timer]:
        """Remove and return the active timers due at ``now``, earliest first."""
        due: list[Timer] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            if timer.active:
                timer.active = False
                due.append(timer)
        return due

    def __len__(self) -> int:
        return len(self._heap)
