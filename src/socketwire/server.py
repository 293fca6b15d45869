"""``Server``: the Socket.IO server for threaded applications (python-socketio's ``Server``).

Handlers are plain functions run on a pool of worker threads, so one that blocks holds up
only its own client. A client's ``connect``, events and ``disconnect`` run one after another
in arrival order when ``async_handlers`` is False; with the default True its events may run
concurrently (as in python-socketio), but ``connect`` always finishes before anything else
of that client runs and ``disconnect`` runs last.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import base
from .driver import ThreadDriver
from .exceptions import DisconnectedError, TimeoutError
from .facade import FAILED, Done, ServerFacade
from .socketio.core import Socket

__all__ = ["Server"]

Job = tuple[Callable[..., Any], list[Any], "Done | None", tuple[type[BaseException], ...]]


class _Call:
    """A ``call()`` waiting for its acknowledgement."""

    __slots__ = ("error", "event", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


ASYNC_MODES = (None, "threading", "gevent", "gevent_uwsgi")


def check_async_mode(async_mode: str | None) -> None:
    """python-socketio's ``async_mode``: threads, or gevent after monkey patching (the
    server's locks, timer and worker pool are threading objects that gevent then turns
    into greenlets). eventlet is not supported: its maintainers have deprecated it."""
    if async_mode not in ASYNC_MODES:
        if async_mode == "eventlet":
            raise ValueError(
                "async_mode='eventlet' is not supported: eventlet is deprecated by its "
                "maintainers; use 'threading' (the default) or 'gevent'"
            )
        raise ValueError(f"unknown async_mode {async_mode!r}; use one of {ASYNC_MODES[1:]}")
    if async_mode in ("gevent", "gevent_uwsgi"):
        try:
            from gevent import monkey
        except ImportError:
            raise ValueError("async_mode='gevent' needs the gevent package") from None
        if not monkey.is_module_patched("threading"):
            raise RuntimeError(
                "async_mode='gevent' needs gevent.monkey.patch_all() at the start of the "
                "program (gunicorn's gevent worker does it for you)"
            )


class Server(ServerFacade):
    """A Socket.IO v5 server for threads: serve it with :class:`socketwire.WSGIApp` under a
    threaded WSGI server (gunicorn ``-k gthread``, Werkzeug), or with ``socketwire.run``.

    Options as :class:`socketwire.AsyncServer`, plus ``handler_threads`` (the size of the
    worker pool, default 100) and ``async_mode`` (``'threading'``, the default, or
    ``'gevent'``: see :func:`check_async_mode`)."""

    def __init__(
        self,
        client_manager: Any = None,
        logger: bool | logging.Logger = False,
        async_handlers: bool = True,
        always_connect: bool = False,
        namespaces: Iterable[str] | str | None = None,
        connect_timeout: float = 45,
        max_attachments: int = 10,
        engineio_logger: bool | logging.Logger = False,
        handler_threads: int = 100,
        async_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_async_mode(async_mode)
        #: python-socketio's attribute: the concurrency model in use
        self.async_mode = async_mode or "threading"
        super().__init__(
            logger,
            async_handlers,
            always_connect,
            namespaces,
            connect_timeout,
            max_attachments,
            engineio_logger,
            kwargs,
            client_manager,
        )
        self.driver: ThreadDriver = ThreadDriver(self.core.engine, self._dispatch)
        self._pool = ThreadPoolExecutor(handler_threads, thread_name_prefix="socketwire")
        #: per-client serial queues: sid -> jobs waiting, present while one is running
        self._queues: dict[str, collections.deque[Job]] = {}
        self._calls: dict[str, set[_Call]] = {}

    # ------------------------------------------------------------------ emitting

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
        """Emit ``event`` to one client (``to=sid``), a room, several, or every client of the
        namespace; ``data`` as a tuple sends several arguments. ``callback`` is called with
        each client's acknowledgement arguments. Safe from any thread."""
        self._emit(event, data, to, room, skip_sid, namespace, callback, ignore_queue)
        if self._cluster is not None:
            self._cluster.drain()

    def send(
        self,
        data: Any,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit the ``message`` event."""
        self._emit("message", data, to, room, skip_sid, namespace, callback, ignore_queue)
        if self._cluster is not None:
            self._cluster.drain()

    def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emit to one client and wait for its acknowledgement; returns its argument (a
        tuple for several). Raises :class:`socketwire.TimeoutError` after ``timeout``, and
        :class:`socketwire.DisconnectedError` as soon as the client disconnects."""
        waiter = _Call()

        def callback(*args: Any) -> None:
            waiter.result = base.callback_result(list(args))
            waiter.event.set()

        with self.driver.lock:
            # registered before the emit: a disconnect right after it must find the waiter
            target = self._call_start(event, data, to, sid, namespace, callback)
            pending = self._calls.setdefault(target, set())
            pending.add(waiter)
        try:
            if not waiter.event.wait(timeout):
                self._call_abandon(target, callback)
                raise TimeoutError(f"no acknowledgement of {event!r} from {target}")
            if waiter.error is not None:
                raise waiter.error
            return waiter.result
        finally:
            with self.driver.lock:
                pending.discard(waiter)

    def fetch_sockets(
        self, room: str | None = None, namespace: str | None = None, timeout: float = 5
    ) -> list[dict[str, Any]]:
        """The sockets of ``namespace`` (those in ``room``), on every node of the cluster,
        as ``{'sid', 'nsp', 'rooms'}`` (Node's ``fetchSockets``). Raises
        :class:`socketwire.TimeoutError` if an alive node does not answer in ``timeout``."""
        finished = threading.Event()
        query = self._fetch_start(room, namespace, lambda query: finished.set())
        if query.waiting and not finished.wait(timeout):
            raise TimeoutError(self._fetch_abandon(query))
        return query.sockets

    def emit_with_ack(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
        timeout: float = 60,
    ) -> list[Any]:
        """Emit ``event`` to ``to`` (a room or sid, or a list; None: the whole namespace),
        except ``skip_sid``, asking every recipient for an acknowledgement; returns them all,
        in arrival order, each as ``call()`` would (Node's ``io.timeout(t).emitWithAck``).
        With a message queue the clients of every node are included. Raises
        :class:`socketwire.TimeoutError`, whose ``responses`` are those received, if not
        every recipient answered within ``timeout`` seconds. A recipient that disconnects
        first is no longer awaited (and has no entry in the list)."""
        finished = threading.Event()
        gathering = self._gather_start(
            event, data, to, namespace, skip_sid, lambda gathering: finished.set()
        )
        if not finished.wait(timeout):
            error = self._gather_abandon(gathering, event)
            if not finished.is_set():  # it did not complete meanwhile
                raise error
        with self.driver.lock:
            return list(gathering.responses)

    def _abandon_calls(self, socket: Socket) -> None:
        for waiter in self._calls.pop(socket.sid, ()):
            waiter.error = DisconnectedError(f"{socket.sid} disconnected")
            waiter.event.set()

    # ------------------------------------------------------------------ rooms & clients

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self._enter_room(sid, room, namespace)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self._leave_room(sid, room, namespace)

    def close_room(self, room: str, namespace: str | None = None) -> None:
        self._close_room(room, namespace)

    def sockets_join(
        self,
        rooms: str | Iterable[str],
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
    ) -> None:
        """Put the sockets selected by ``to`` (a room or sid, or a list; None: every socket
        of the namespace), less ``skip_sid``, in ``rooms`` (one or several), on every node
        (Node's ``io.in(to).socketsJoin(rooms)``)."""
        self._sockets_join(rooms, to, namespace, skip_sid, join=True)

    def sockets_leave(
        self,
        rooms: str | Iterable[str],
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
    ) -> None:
        """Take the selected sockets (as :meth:`sockets_join`) out of ``rooms``."""
        self._sockets_join(rooms, to, namespace, skip_sid, join=False)

    def disconnect_sockets(
        self,
        to: str | Iterable[str] | None = None,
        namespace: str | None = None,
        close: bool = False,
        skip_sid: str | Iterable[str] | None = None,
    ) -> None:
        """Disconnect the selected sockets (as :meth:`sockets_join`) on every node; with
        ``close``, close their clients' connections, leaving their other namespaces too
        (Node's ``io.in(to).disconnectSockets(close)``)."""
        self._disconnect_sockets(to, namespace, close, skip_sid)

    def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self._get_session(sid, namespace)

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        self._save_session(sid, session, namespace)

    @contextlib.contextmanager
    def session(self, sid: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """``with sio.session(sid) as session:`` edits and saves the user session."""
        data = self._get_session(sid, namespace)
        yield data
        self._save_session(sid, data, namespace)

    def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        """Disconnect ``sid`` from its namespace; its ``disconnect`` handler runs with
        reason ``'server disconnect'``."""
        self._disconnect(sid, namespace, ignore_queue)

    def shutdown(self) -> None:
        """Disconnect every client."""
        self._shutdown()

    def handle_request(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Answer one WSGI request addressed to this server, whatever its path
        (python-socketio's ``Server.handle_request``, for apps that route to Socket.IO
        themselves)."""
        from .transports.wsgi import WSGIApp

        return WSGIApp(self, socketio_path=None)(environ, start_response)

    def is_asyncio_based(self) -> bool:
        return False

    # ------------------------------------------------------------------ tasks

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> threading.Thread:
        """Run ``target`` in a daemon thread; returns the started thread."""
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float = 0) -> None:
        time.sleep(seconds)

    @staticmethod
    def _manager_type() -> type:
        from .managers.base import ThreadManager

        return ThreadManager

    # ------------------------------------------------------------------ handlers

    def _run(
        self,
        socket: Socket,
        fn: Callable[..., Any],
        args: list[Any],
        done: Done | None,
        kind: str = "ack",
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        job: Job = (fn, args, done, expected)
        serial = kind == "lifecycle" or (kind == "event" and not self.async_handlers)
        if not serial:
            self._pool.submit(self._execute, job)
            return
        queue = self._queues.get(socket.sid)
        if queue is not None:
            queue.append(job)  # the client's running job picks it up
            return
        self._queues[socket.sid] = collections.deque()
        self._pool.submit(self._drain, socket.sid, job)

    def _drain(self, sid: str, job: Job) -> None:
        while True:
            self._execute(job)
            with self.driver.lock:
                queue = self._queues[sid]
                if not queue:
                    del self._queues[sid]
                    return
                job = queue.popleft()

    def _execute(self, job: Job) -> None:
        fn, args, done, expected = job
        result = self._call_handler(fn, args, done, expected)
        if result is not FAILED and done is not None:
            done(result, None)
