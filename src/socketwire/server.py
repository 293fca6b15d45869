"""``Server``: the Socket.IO server for threaded applications (python-socketio's ``Server``).

Handlers are plain functions run on a pool of worker threads (see :mod:`.client_jobs`).
Each client's events start in arrival order and run one at a time, so quick handlers also
finish in order; clients are served round robin. With ``async_handlers=True`` (the
default) a handler that runs longer than ``handler_stall`` (0.1 s) lets its client's next
events start beside it, so a blocking handler holds up nobody for long; with False a
client's handlers run strictly one after another. ``connect`` finishes before anything else
of that client starts, and ``disconnect`` starts after its other handlers have finished,
except one running longer than ``handler_stall`` (which may be waiting for it).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import base
from ._green import uwsgi_gevent
from .client_jobs import ClientJobs
from .driver import ThreadDriver
from .engineio.core import DisconnectReason
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


ASYNC_MODES = (None, "threading", "eventlet", "gevent", "gevent_uwsgi")


def detect_async_mode() -> str:
    """The mode of a program that did not say: ``'eventlet'`` or ``'gevent'`` once it has
    monkey-patched threading with one of them (the server's threads are then green),
    ``'threading'`` otherwise. A library merely installed is not enough: unpatched, it
    would not run."""
    if uwsgi_gevent():
        return "gevent_uwsgi"  # patched at import (socketwire._green)
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("thread"):
        return "eventlet"
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
        return "gevent"
    return "threading"


def check_async_mode(async_mode: str | None) -> None:
    """python-socketio's ``async_mode``: threads, or green threads after monkey patching
    with eventlet or gevent (the server's locks, timer and worker pool are threading
    objects that the patching turns into green threads)."""
    if async_mode not in ASYNC_MODES:
        raise ValueError(f"unknown async_mode {async_mode!r}; use one of {ASYNC_MODES[1:]}")
    if async_mode == "eventlet":
        if importlib.util.find_spec("eventlet") is None:
            raise ValueError("async_mode='eventlet' needs the eventlet package")
        # a program that patched has imported it; importing it here would only warn
        patcher = sys.modules.get("eventlet.patcher")
        if patcher is None or not patcher.is_monkey_patched("thread"):
            raise RuntimeError(
                "async_mode='eventlet' needs eventlet.monkey_patch() at the start of the "
                "program (gunicorn's eventlet worker does it for you)"
            )
    if async_mode in ("gevent", "gevent_uwsgi"):
        try:
            from gevent import monkey
        except ImportError:
            raise ValueError("async_mode='gevent' needs the gevent package") from None
        if not monkey.is_module_patched("threading") and uwsgi_gevent():
            # uWSGI's gevent loop runs every request in a greenlet of one thread; the
            # server's locks, events and worker threads must be green too. The documented
            # command (``uwsgi --gevent 1000 ...``) does not patch: do it for the app.
            monkey.patch_all()
        if not monkey.is_module_patched("threading"):
            raise RuntimeError(
                "async_mode='gevent' needs gevent.monkey.patch_all() at the start of the "
                "program (gunicorn's gevent worker does it for you)"
            )


class Server(ServerFacade):
    """A Socket.IO v5 server for threads: serve it with :class:`socketwire.WSGIApp` under a
    threaded WSGI server (gunicorn ``-k gthread``, Werkzeug), or with ``socketwire.run``.

    Options as :class:`socketwire.AsyncServer`, plus ``handler_threads`` (the size of the
    worker pool, default 100) and ``async_mode`` (``'threading'``, ``'eventlet'`` or
    ``'gevent'``; by default the one the program monkey-patched with, else threads: see
    :func:`check_async_mode`)."""

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
        handler_stall: float = 0.1,
        max_queued_events: int = 10_000,
        **kwargs: Any,
    ) -> None:
        #: python-socketio's attribute: the concurrency model in use
        self.async_mode = async_mode or detect_async_mode()
        check_async_mode(self.async_mode)
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
        #: python-socketio's ``async_handlers``: a handler running longer than this lets
        #: its client's next events start beside it (None: strictly one at a time)
        self.handler_stall = handler_stall if async_handlers else None
        self.max_queued_events = max_queued_events
        self._jobs = ClientJobs(
            self._pool.submit, self.handler_stall, max_queued_events, self._flooded, self._throttle
        )
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
        if kind == "ack":
            self._pool.submit(self._execute, job)  # an ack callback: no order to keep
            return
        self._jobs.add(
            socket.sid, functools.partial(self._execute, job), barrier=kind == "lifecycle"
        )

    def _check_fork(self) -> None:
        """Called by :class:`~socketwire.WSGIApp` on each request: in a worker forked after
        the app was imported (uWSGI, ``gunicorn --preload``), the message queue's threads
        are started again."""
        after_fork = getattr(self.manager, "after_fork", None)
        if after_fork is not None:
            after_fork()  # a pid comparison unless this process was forked

    def _throttle(self, sid: str, on: bool) -> None:
        """Stop (or resume) reading ``sid``'s connection, where its transport can."""
        with self.driver.lock:
            socket = self.core.sockets.get(sid)
        if socket is not None:
            self.driver.throttle(socket.client.session, on)

    def _flooded(self, sid: str) -> None:
        """A client queued more events than ``max_queued_events`` on a transport that
        could not stop reading it: it alone is closed."""
        with self.driver.lock:
            socket = self.core.sockets.get(sid)
            if socket is not None and hasattr(socket.client.session.ws, "throttle"):
                return  # not read any more: what is left is the rest of one read
        self.logger.warning(
            "closing %s: more than %d events waiting for handlers", sid, self.max_queued_events
        )
        with self.driver.lock:
            socket = self.core.sockets.get(sid)
            if socket is not None:
                self.core.engine.close(socket.client.session, DisconnectReason.TRANSPORT_ERROR)
                self.driver.flush()
        self.driver._after()

    def _execute(self, job: Job) -> None:
        fn, args, done, expected = job
        result = self._call_handler(fn, args, done, expected)
        if result is not FAILED and done is not None:
            done(result, None)
