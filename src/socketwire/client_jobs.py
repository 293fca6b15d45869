"""Per-client job queues on a thread pool: the threaded runtime's scheduling.

Theory of operation. Every Socket.IO socket (a client in one namespace) has a FIFO of jobs
(its handlers). At most one worker serves a queue at a time (it holds the queue's *head*),
so a client's events start in arrival order and quick ones finish in order. A worker runs
ONE job, then puts the queue back at the end of the pool's line: clients are served round
robin, and a client with 50,000 queued events delays another client's event by one job,
not by 50,000.

A job that runs longer than ``stall`` seconds (python-socketio's ``async_handlers=True``
meaning: a handler that blocks must not stop its client) gives up the head: a watchdog
thread notices and hands the queue to another worker, which starts the next job while the
slow one goes on. With ``stall=None`` (``async_handlers=False``) a client's jobs run
strictly one at a time.

*Barrier* jobs (connect and disconnect handlers) are never released as stalled: nothing of
that client starts before they end. Like any job, they start once the job holding the head
has finished or stalled: ``disconnect`` runs after the client's other handlers, except one
that has been running longer than ``stall`` (a handler that loops until its client is gone
must be able to see ``disconnect`` happen).

A queue reaching half of ``max_queued`` calls ``throttle(key, True)`` (the server stops
reading that client where its transport allows) and ``throttle(key, False)`` once it is
down to a quarter; a queue longer than ``max_queued`` calls ``overflow(key)`` (the server
closes that client unless it could throttle it): one client cannot make the process hold
unbounded work.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ClientJobs"]

Job = Callable[[], None]


class _Queue:
    __slots__ = ("head", "jobs", "overflowed", "running", "scheduled", "started", "throttled")

    def __init__(self) -> None:
        self.jobs: collections.deque[tuple[Job, bool]] = collections.deque()
        #: a serve task is in the pool's line for this queue
        self.scheduled = False
        #: the job holding the head (its start time in ``started``), or 0
        self.head = 0
        self.started = 0.0
        #: jobs in progress, a stalled one that gave up the head included
        self.running = 0
        self.overflowed = False
        self.throttled = False


class ClientJobs:
    """See the module docstring. ``submit`` is called with the server's lock held."""

    def __init__(
        self,
        submit: Callable[..., Any],
        stall: float | None,
        max_queued: int,
        overflow: Callable[[str], None],
        throttle: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._submit = submit
        self._throttle = throttle
        self._stall = stall
        self._max_queued = max_queued
        self._overflow = overflow
        self._lock = threading.Lock()
        self._queues: dict[str, _Queue] = {}
        self._counter = 0
        self._watchdog: threading.Thread | None = None
        self._stopped = False

    def add(self, key: str, job: Job, barrier: bool = False) -> None:
        overflowed = throttle = False
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue()
            queue.jobs.append((job, barrier))
            waiting = len(queue.jobs)
            if waiting > self._max_queued and not queue.overflowed:
                queue.overflowed = overflowed = True
            elif waiting >= self._max_queued // 2 and not queue.throttled:
                queue.throttled = throttle = True
            self._schedule(queue, key)
        if throttle and self._throttle is not None:
            self._throttle(key, True)
        if overflowed:
            self._overflow(key)

    def _schedule(self, queue: _Queue, key: str) -> None:
        """Put ``queue`` in the pool's line unless it is there or its head is held."""
        if not queue.scheduled and not queue.head and queue.jobs:
            queue.scheduled = True
            self._submit(self._serve, key)

    def _serve(self, key: str) -> None:
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                return
            queue.scheduled = False
            if queue.head or not queue.jobs:
                return
            job, barrier = queue.jobs.popleft()
            release = queue.throttled and len(queue.jobs) <= self._max_queued // 4
            if release:
                queue.throttled = False
            self._counter += 1
            token = queue.head = self._counter
            queue.started = time.monotonic()
            queue.running += 1
            if self._stall is not None and not barrier and self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="socketwire-stalls", daemon=True
                )
                self._watchdog.start()
            # a barrier keeps the head: nothing may start beside it
            if barrier:
                token = -token
                queue.head = token
        if release and self._throttle is not None:
            self._throttle(key, False)
        try:
            job()
        finally:
            with self._lock:
                queue.running -= 1
                if queue.head == token:
                    queue.head = 0
                if queue.jobs:
                    self._schedule(queue, key)  # back of the line: round robin
                elif not queue.running and not queue.head and not queue.scheduled:
                    del self._queues[key]

    def _watch(self) -> None:
        """Release the head of queues whose job has run longer than ``stall``."""
        assert self._stall is not None
        period = max(self._stall / 2, 0.01)
        while not self._stopped:
            time.sleep(period)
            now = time.monotonic()
            with self._lock:
                for key, queue in self._queues.items():
                    if queue.head > 0 and queue.jobs and now - queue.started >= self._stall:
                        queue.head = 0  # the slow job goes on; the next one may start
                        self._schedule(queue, key)

    def stop(self) -> None:
        self._stopped = True

    def queued(self, key: str) -> int:
        """Jobs waiting for ``key`` (not counting the running ones)."""
        queue = self._queues.get(key)
        return len(queue.jobs) if queue is not None else 0
