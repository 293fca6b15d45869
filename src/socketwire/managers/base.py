"""Message-queue managers: connect a server to the other nodes of its cluster (or, with
``write_only=True``, let any process emit to the cluster's clients).

A manager owns the I/O of one backend (publish bytes, receive bytes) and nothing else of the
protocol, which lives in :mod:`socketwire.cluster`. Two runtimes:

* :class:`AsyncManager`: one publisher task and one listener task on the server's loop.
* :class:`ThreadManager`: one publisher thread and one listener thread.

Failure behaviour (documented in the README, "Message queues"):

* Publishing never blocks or raises for a broker problem. Messages wait in a bounded queue
  (``queue_size``, default 1000) while the broker is unreachable and go out in order once it
  is back; when the queue is full the oldest message is dropped and counted.
* The listener reconnects by itself with exponential backoff (0.1 s doubling to 10 s) and
  resubscribes. Redis pub/sub keeps nothing for absent subscribers: what other nodes
  publish while this node's subscription is down never reaches this node's clients.
* ``manager.stats`` counts published, received, dropped (queue full), invalid (malformed or
  foreign messages, logged and ignored) and reconnects; ``manager.connected`` says whether
  the listener is subscribed now.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from .. import base, cluster
from .._green import in_uwsgi
from ..exceptions import SocketwireError
from .helpers import ManagerQueries

__all__ = ["AsyncManager", "ManagerBase", "ThreadManager"]

logger = logging.getLogger("socketwire.manager")

BACKOFF_START = 0.1
BACKOFF_MAX = 10.0


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (1, 2, ...), with jitter."""
    delay: float = min(BACKOFF_MAX, BACKOFF_START * 2 ** min(attempt - 1, 20))
    return delay * (0.5 + random.random() / 2)


class ManagerBase(ManagerQueries):
    """What both runtimes share: the protocol node, the server it serves, statistics."""

    name = "manager"

    def __init__(
        self,
        url: str,
        channel: str = "socketio",
        write_only: bool = False,
        logger: logging.Logger | None = None,
        queue_size: int = 1000,
    ) -> None:
        self.url = url
        self.channel = channel
        self.write_only = write_only
        self.logger = logger or globals()["logger"]
        if self.logger.level == logging.NOTSET:
            # broker trouble and bad messages must be seen even when the server is quiet
            self.logger.setLevel(logging.WARNING)
        self.queue_size = queue_size
        self.server: Any = None
        self.node = cluster.ClusterNode(None, channel)
        self.connected = False
        self.stats = {"published": 0, "received": 0, "dropped": 0, "invalid": 0, "reconnects": 0}

    def attach(self, server: Any) -> None:
        """Called by the server that uses this manager (``client_manager=``)."""
        if self.write_only:
            raise SocketwireError("a write-only manager cannot serve a server")
        self.server = server
        self.node.core = server.core

    # ------------------------------------------------------------ receiving

    def _received(self, data: bytes) -> None:
        """Validate and apply one message (any thread; takes the server's lock)."""
        self.stats["received"] += 1
        try:
            message = cluster.decode(data, self.channel)
        except cluster.ClusterMessageError as exc:
            self.stats["invalid"] += 1
            self.logger.warning("ignoring a message on channel %s: %s", self.channel, exc)
            return
        server = self.server
        if server is None:
            callback = self.node.apply(message, self.publish)
        else:
            callback = server.driver.run(self.node.apply, message, self.publish)
        if callback is not None:
            self._run_callback(callback, message["args"])

    def _run_callback(self, callback: Callable[..., Any], args: list[Any]) -> None:
        try:
            callback(*args)
        except Exception:
            self.logger.exception("error in an acknowledgement callback")

    # ------------------------------------------------------------ publishing

    def publish(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    #: messages a publisher takes from its queue at once (one round trip to the broker)
    batch_size = 100

    def _enqueue(self, queue: collections.deque[bytes], data: bytes, inflight: int) -> None:
        """Append ``data``; when the queue is full drop its oldest message that is not being
        sent right now (the first ``inflight`` are), and say so (rate-limited)."""
        if len(queue) >= self.queue_size:
            if inflight < len(queue):
                del queue[inflight]
            else:
                data = b""  # everything queued is on its way: the new message is the one lost
            self.stats["dropped"] += 1
            dropped = self.stats["dropped"]
            if dropped == 1 or dropped % 100 == 0:
                self.logger.error(
                    "%s: publish queue full (%d messages): %d dropped so far",
                    self.name,
                    self.queue_size,
                    dropped,
                )
            if not data:
                return
        queue.append(data)

    def _emit_message(
        self,
        event: str,
        data: Any,
        to: Any,
        room: Any,
        skip_sid: Any,
        namespace: str | None,
        callback: Callable[..., Any] | None,
    ) -> dict[str, Any]:
        if callback is not None and self.write_only:
            raise SocketwireError("a write-only manager cannot receive acknowledgements")
        return self.node.emit(
            namespace or "/",
            [event, *base.data_to_args(data)],
            base.targets(to, room),
            base.skips(skip_sid),
            callback,
        )


class AsyncManager(ManagerBase):
    """Base of asyncio managers; subclasses implement the three backend methods."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: collections.deque[bytes] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # backend
    async def _publish(self, data: bytes) -> None:
        raise NotImplementedError

    def _subscribe(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def _close(self) -> None:
        """Release the backend's connections."""

    # runtime
    def start(self) -> None:
        """Start the publisher (and, for a server, the listener) on the running loop."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Condition()
        self._tasks.append(self._loop.create_task(self._publisher()))
        if not self.write_only:
            self._tasks.append(self._loop.create_task(self._listener()))
            self._tasks.append(self._loop.create_task(self._heartbeat()))

    def publish(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for the broker (never blocks; see the module docstring)."""
        if self._loop is None:
            self.start()
        self._enqueue(self._queue, cluster.encode(message), self._inflight)
        assert self._wakeup is not None
        self._wakeup.set()

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit to the cluster's clients from any process (python-socketio's
        ``write_only=True`` usage)."""
        self.publish(self._emit_message(event, data, to, room, skip_sid, namespace, callback))
        await self.flush(timeout=5)  # a broker that is down must not hang the caller

    async def drain(self, timeout: float = 5.0) -> None:
        """Backpressure for bursts of emits (an ``await sio.emit(...)`` loop never yields to
        the publisher otherwise, and the bounded queue would drop the oldest messages with
        the broker up): while the broker is taking messages and the queue is more than half
        full, wait until it is under a quarter, for at most ``timeout`` seconds. With the
        broker down it returns at once: then the queue's bound applies."""
        if len(self._queue) * 2 <= self.queue_size or not self._healthy:
            return
        await self._wait_until(
            lambda: len(self._queue) * 4 <= self.queue_size or not self._healthy, timeout
        )

    _healthy = True

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until the publish queue is empty (True) or ``timeout`` passes (False)."""
        return await self._wait_until(lambda: not self._queue and not self._sending, timeout)

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait (bounded) for ``predicate``, re-checked whenever the publisher progresses."""
        if predicate():
            return True
        changed = self._changed
        if changed is None:  # no publisher yet: nothing will change
            return False
        async with changed:
            try:
                await asyncio.wait_for(changed.wait_for(predicate), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    async def _progressed(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    _sending = False
    _inflight = 0
    _changed: asyncio.Condition | None = None

    async def _publish_batch(self, batch: list[bytes]) -> None:
        """Send ``batch`` in order (backends override this to use one round trip)."""
        for data in batch:
            await self._publish(data)

    async def _publisher(self) -> None:
        queue = self._queue
        assert self._wakeup is not None
        attempt = 0
        while True:
            if not queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = list(itertools.islice(queue, self.batch_size))
            self._sending = True
            self._inflight = len(batch)
            try:
                await self._publish_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._healthy = False
                self._sending = False
                self._inflight = 0
                await self._progressed()  # drain() stops waiting on a broker that is down
                attempt += 1
                delay = backoff(attempt)
                self.logger.error(
                    "%s: publish failed (%s); retrying in %.1f s", self.name, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            finally:
                self._sending = False
                self._inflight = 0
            for _ in batch:
                queue.popleft()
            self.stats["published"] += len(batch)
            self._healthy = True
            attempt = 0
            await self._progressed()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(cluster.HEARTBEAT)
            if self.connected:
                self.publish(self.node.hello())

    async def _listener(self) -> None:
        attempt = 0
        while True:
            try:
                subscribed = False
                async for data in self._subscribe():
                    if not subscribed:  # the first item says "subscribed"; then messages
                        subscribed = self.connected = True
                        if attempt:
                            self.logger.warning("%s: listener reconnected", self.name)
                        attempt = 0
                        # tell the others we are here, and have them tell us they are
                        self.publish(self.node.hello(answer=True))
                        continue
                    self._received(data)  # an empty message too: it is counted as invalid
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                attempt += 1
                self.stats["reconnects"] += 1
                delay = backoff(attempt)
                self.logger.error(
                    "%s: listener lost the broker (%s); reconnecting in %.1f s",
                    self.name,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop the tasks (after sending what is queued, for up to 5 s)."""
        await self.flush(timeout=5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:
                pass
        self._tasks = []
        await self._close()


class ThreadManager(ManagerBase):
    """Base of threaded managers; subclasses implement the three backend methods."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._sending = False
        self._pid = os.getpid()

    def after_fork(self) -> None:
        """This process was forked from the one that started the threads (uWSGI and
        ``gunicorn --preload`` import the app, then fork workers): they did not come along.
        Start afresh here; what the parent had queued is the parent's."""
        if self._pid == os.getpid():
            return
        deferred = self._pid == -1
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._queue.clear()
        self._inflight = 0
        self._sending = False
        self._stopping = False
        had_threads = bool(self._threads)
        self._threads = []
        if had_threads or deferred:
            self.start()

    # backend
    def _publish(self, data: bytes) -> None:
        raise NotImplementedError

    def _subscribe(self) -> Iterator[bytes]:
        raise NotImplementedError

    def _close(self) -> None:
        """Release the backend's connections."""

    # runtime
    def attach(self, server: Any) -> None:
        super().attach(server)
        if in_uwsgi():
            # uWSGI imports the app in its master, then forks the workers: a thread (or a
            # greenlet) started now would be the master's. The server starts it in the worker.
            self._pid = -1
            return
        self.start()

    def start(self) -> None:
        with self._cond:
            if self._threads:
                return
            targets = [self._publisher]
            if not self.write_only:
                targets += [self._listener, self._heartbeat]
            for target in targets:
                thread = threading.Thread(
                    target=target, name=f"socketwire-{self.name}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def publish(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for the broker (never blocks; see the module docstring)."""
        if not self._threads:
            self.start()
        data = cluster.encode(message)
        with self._cond:
            self._enqueue(self._queue, data, self._inflight)
            self._cond.notify_all()

    def drain(self, timeout: float = 5.0) -> None:
        """Backpressure for bursts of emits, as :meth:`AsyncManager.drain`: while the broker
        takes messages and the queue is more than half full, wait until it is under a
        quarter (at most ``timeout`` seconds)."""
        with self._cond:
            if len(self._queue) * 2 <= self.queue_size or not self._healthy:
                return
            self._cond.wait_for(
                lambda: len(self._queue) * 4 <= self.queue_size or not self._healthy, timeout
            )

    def emit(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit to the cluster's clients from any process or thread (python-socketio's
        ``write_only=True`` usage); returns once the message is handed to the broker (or
        after 5 s, leaving it queued)."""
        self.publish(self._emit_message(event, data, to, room, skip_sid, namespace, callback))
        self.flush(timeout=5)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the publish queue is empty (True) or ``timeout`` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._sending, timeout)

    _healthy = True
    _inflight = 0

    def _publish_batch(self, batch: list[bytes]) -> None:
        """Send ``batch`` in order (backends override this to use one round trip)."""
        for data in batch:
            self._publish(data)

    def _publisher(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping)
                if self._stopping and not self._queue:
                    return
                batch = list(itertools.islice(self._queue, self.batch_size))
                self._sending = True
                self._inflight = len(batch)
            try:
                self._publish_batch(batch)
            except Exception as exc:
                with self._cond:
                    self._sending = False
                    self._inflight = 0
                    self._healthy = False
                    self._cond.notify_all()
                    if self._stopping:
                        return
                attempt += 1
                delay = backoff(attempt)
                self.logger.error(
                    "%s: publish failed (%s); retrying in %.1f s", self.name, exc, delay
                )
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, delay)
                continue
            attempt = 0
            with self._cond:
                for _ in batch:
                    self._queue.popleft()
                self._sending = False
                self._inflight = 0
                self._healthy = True
                self.stats["published"] += len(batch)
                self._cond.notify_all()

    def _heartbeat(self) -> None:
        while True:
            with self._cond:
                if self._cond.wait_for(lambda: self._stopping, cluster.HEARTBEAT):
                    return
            if self.connected:
                self.publish(self.node.hello())

    def _listener(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                subscribed = False
                for data in self._subscribe():
                    if self._stopping:
                        return
                    if not subscribed:  # the first item says "subscribed"; then messages
                        subscribed = self.connected = True
                        if attempt:
                            self.logger.warning("%s: listener reconnected", self.name)
                        attempt = 0
                        # tell the others we are here, and have them tell us they are
                        self.publish(self.node.hello(answer=True))
                        continue
                    self._received(data)  # an empty message too: it is counted as invalid
                raise ConnectionError("subscription ended")
            except Exception as exc:
                if self._stopping:
                    return
                self.connected = False
                attempt += 1
                self.stats["reconnects"] += 1
                delay = backoff(attempt)
                self.logger.error(
                    "%s: listener lost the broker (%s); reconnecting in %.1f s",
                    self.name,
                    exc,
                    delay,
                )
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, delay)

    def close(self) -> None:
        """Stop the threads (after sending what is queued, for up to 5 s)."""
        self.flush(timeout=5)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._close()
        for thread in self._threads:
            thread.join(5)
        self._threads = []
