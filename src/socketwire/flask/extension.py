"""The ``SocketIO`` extension object: options, handler registration, the Flask contexts
handlers run in, emitting from outside handlers, and ``run()``."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask.ctx import RequestContext
from flask.sessions import SessionMixin

import flask

from .. import base, managers
from ..engineio.core import DisconnectReason
from ..exceptions import ConnectionRefusedError, SocketwireError
from ..server import Server
from ..transports import native
from ..transports.http_limits import HttpLimits
from ..transports.wsgi import WSGIApp

if TYPE_CHECKING:
    from .namespace import Namespace
    from .test_client import SocketIOTestClient

__all__ = ["SocketIO"]

F = TypeVar("F", bound=Callable[..., Any])

#: keys socketwire.flask keeps in a connection's environ (the forked user session under
#: Flask-SocketIO's name: tests and apps read ``sio.server.environ[eio_sid]['saved_session']``)
SESSION_KEY = "saved_session"
ENVIRON_KEY = "socketwire.flask.environ"

#: options of the extension itself (the rest configure the server)
EXTENSION_OPTIONS = ("manage_session", "message_queue", "channel", "path", "resource", "write_only")
#: server options ``run()`` also accepts
SERVER_OPTIONS = (
    *base.ENGINE_OPTIONS,
    *base.IGNORED_OPTIONS,
    "json",
    "async_handlers",
    "always_connect",
    "namespaces",
    "connect_timeout",
    "max_attachments",
    "handler_threads",
    "handler_stall",
    "max_queued_events",
)


class _AppJSON:
    """``json=flask.json``: Flask's JSON provider needs an application context, which
    handlers have but the server's own threads do not; give it the app's."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def _context(self) -> Any:
        return contextlib.nullcontext() if flask.has_app_context() else self.app.app_context()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        with self._context():
            return flask.json.dumps(obj, **kwargs)

    def loads(self, text: str | bytes, **kwargs: Any) -> Any:
        with self._context():
            return flask.json.loads(text, **kwargs)


_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket", "socketwire.socket")


class _ForkedSession(dict[str, Any], SessionMixin):
    """A Socket.IO connection's copy of the Flask user session, taken when it connects.

    Handlers of that connection share it; changes last for the connection and never
    reach the cookie (an HTTP response is what writes a cookie)."""


def check_async_mode(mode: Any) -> None:
    """Flask-SocketIO's ``async_mode``: threads, or green threads under eventlet or gevent
    (checked by :class:`socketwire.Server`: they need monkey patching first)."""
    if mode in (None, "threading", "eventlet", "gevent", "gevent_uwsgi"):
        return
    raise ValueError(
        f"invalid async_mode {mode!r}: socketwire.flask supports 'threading', 'eventlet' "
        "and 'gevent'"
    )


class _NamespaceBridge:
    """What the server sees of a class-based :class:`~socketwire.flask.Namespace`: its
    ``on_<event>`` methods, each reached through the namespace's ``trigger_event`` so the
    Flask contexts are set up (and an overridden ``trigger_event`` is honoured)."""

    def __init__(self, handler: Namespace) -> None:
        self.namespace = handler.namespace
        self.handler = handler
        self._methods: dict[str, Callable[..., Any] | None] = {}

    def _set_server(self, server: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)
        try:
            method = self._methods[name]
        except KeyError:
            method = None
            if callable(getattr(self.handler, name, None)):
                method = functools.partial(self.handler.trigger_event, name[3:])
            self._methods[name] = method
        if method is None:
            raise AttributeError(name)
        return method


class SocketIO:
    """Socket.IO for a Flask application (Flask-SocketIO's ``SocketIO``).

    ``SocketIO(app, **options)`` or ``SocketIO(**options)`` then ``init_app(app,
    **options)``; options from both (and from ``run()``) are merged. The extension's own
    options: ``manage_session`` (default True: each connection gets a copy of the user
    session taken at connect; False: handlers use the app's session interface directly,
    for server-side sessions), ``path`` (default ``'socket.io'``), ``message_queue`` (a
    ``redis://``, ``rediss://``, ``redis+sentinel://`` or ``amqp://`` URL: several server
    processes form one cluster; without an app the object is a write-only emitter usable
    from any process) and ``channel`` (default ``'flask-socketio'``). Every other option
    configures
    :class:`socketwire.Server`: ``cors_allowed_origins``, ``ping_interval``,
    ``ping_timeout``, ``max_http_buffer_size``, ``cookie``, ``always_connect``,
    ``logger``, ``engineio_logger``, ``async_handlers``, ``handler_threads``, ...
    ``async_mode`` may be None (the library the program monkey-patched with, else
    threads), ``'threading'``, ``'eventlet'`` or ``'gevent'`` (after
    ``eventlet.monkey_patch()`` / ``gevent.monkey.patch_all()``; ``run()`` then serves with
    eventlet's or gevent's WSGI server).
    """

    reason = DisconnectReason

    def __init__(self, app: flask.Flask | None = None, **kwargs: Any) -> None:
        self.server: Server | None = None
        self.server_options: dict[str, Any] = {}
        self.app: flask.Flask | None = None
        self.manage_session = True
        self.message_queue: Any = None
        self.channel = "flask-socketio"
        self.async_mode: str | None = None
        #: the write-only manager of a SocketIO(message_queue=...) without an app
        self._emitter: Any = None
        self.path = "socket.io"
        self.exception_handlers: dict[str, Callable[[BaseException], Any]] = {}
        self.default_exception_handler: Callable[[BaseException], Any] | None = None
        self.namespace_handlers: list[Namespace] = []
        self._registrations: list[tuple[str, Callable[..., Any], str]] = []
        self._mounts: dict[flask.Flask, WSGIApp] = {}
        #: test clients' connections: sid -> told (event, error, result) of each handler
        self._trackers: dict[str, Callable[[str, BaseException | None, Any], None]] = {}
        self._lock = threading.Lock()
        self._configure(kwargs)
        if app is not None or self.message_queue is not None:
            self.init_app(app)

    # ------------------------------------------------------------------ setup

    def _configure(self, options: dict[str, Any]) -> None:
        options = dict(options)
        if "async_mode" in options:
            check_async_mode(options["async_mode"])
            self.async_mode = options.pop("async_mode")
        self.manage_session = options.pop("manage_session", self.manage_session)
        self.message_queue = options.pop("message_queue", self.message_queue)
        self.channel = options.pop("channel", self.channel)
        options.pop("write_only", None)
        path = options.pop("path", None) or options.pop("resource", None)
        if path:
            self.path = path.strip("/")
        self.server_options.update(options)

    def init_app(self, app: flask.Flask | None, **kwargs: Any) -> None:
        """Attach to ``app``: Socket.IO is then served at ``/<path>/`` by whatever serves
        the app (``socketio.run``, ``flask run``, gunicorn ``-k gthread``). With ``app``
        None and a ``message_queue``, the object is a write-only emitter for other
        processes (``server_options['client_manager']`` is its manager)."""
        self._configure(kwargs)
        if app is None:
            if self.message_queue is not None and self.server is None:
                self._external_emitter()
            return
        if self.app is None:
            self.app = app
        app.extensions["socketio"] = self
        self._build_server()
        self._mount(app)

    def _build_server(self) -> None:
        options = dict(self.server_options)
        options.setdefault("async_handlers", True)
        if self.async_mode is not None:
            options["async_mode"] = self.async_mode
        if self.message_queue is not None:
            if self._emitter is not None:  # an emitter until now: it becomes a server
                self._emitter.close()
                self._emitter = None
            # Flask-SocketIO keeps the manager in server_options, where apps look for it
            options["client_manager"] = self.server_options["client_manager"] = managers.from_url(
                self.message_queue, channel=self.channel, asyncio=False
            )
        if options.get("json") is flask.json:
            options["json"] = _AppJSON(self.app)
        server = Server(**options)
        self.async_mode = server.async_mode  # Flask-SocketIO's example pages show it
        for event, handler, namespace in self._registrations:
            server.on(event, handler, namespace=namespace)
        for namespace_handler in self.namespace_handlers:
            server.register_namespace(_NamespaceBridge(namespace_handler))
        old, self.server = self.server, server
        if old is not None:
            old.shutdown()
            old.driver.stop()
            if old.manager is not None:
                old.manager.close()
        for app in list(self._mounts):
            self._mount(app)

    def _external_emitter(self) -> Any:
        """The write-only manager of a ``SocketIO(message_queue=...)`` without an app."""
        if self._emitter is None:
            self._emitter = self.server_options["client_manager"] = managers.from_url(
                self.message_queue, channel=self.channel, write_only=True, asyncio=False
            )
        return self._emitter

    def _mount(self, app: flask.Flask) -> None:
        assert self.server is not None
        current = app.wsgi_app
        previous: Any = self._mounts.get(app)
        inner: Any = current
        if previous is not None and current is previous:
            inner = self._mounts[app].wsgi_app
        mount = WSGIApp(self.server, inner, socketio_path=self.path)
        app.wsgi_app = mount  # type: ignore[method-assign]
        self._mounts[app] = mount

    def __socketwire_mount__(self, app: flask.Flask | None = None) -> WSGIApp:
        """What ``socketwire run module:app`` (or ``module:socketio``) serves: ``app`` (by
        default the one given to the constructor or ``init_app``) with Socket.IO mounted."""
        app = app or self.app
        if app is None or app not in self._mounts:
            raise TypeError("this SocketIO is not attached to a Flask app: call init_app(app)")
        mount = self._mounts[app]
        if app.wsgi_app is mount:
            return mount
        # middleware wrapped around the mount since (ProxyFix, ...): serve the whole app
        return WSGIApp(self.server, app, socketio_path=self.path)

    def _require_server(self) -> Server:
        if self.server is None:
            raise RuntimeError("SocketIO is not attached to an app: call init_app(app) first")
        return self.server

    # ------------------------------------------------------------------ handlers

    def on(self, message: str, namespace: str | None = None) -> Callable[[F], F]:
        """Register the decorated function for event ``message`` (``'message'``,
        ``'json'``, ``'connect'``, ``'disconnect'``, any name, or ``'*'`` for every event
        without a handler of its own: it gets the event name first). ``namespace='*'``
        catches every namespace (``request.namespace`` tells which)."""
        if callable(message):
            raise TypeError("use @socketio.on('event'), or @socketio.event")
        ns = namespace or "/"

        def decorator(handler: F) -> F:
            self._register(message, self._server_handler(handler, message, ns), ns)
            return handler

        return decorator

    def on_event(
        self, message: str, handler: Callable[..., Any], namespace: str | None = None
    ) -> None:
        """``on()`` without the decorator syntax."""
        self.on(message, namespace=namespace)(handler)

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """``@socketio.event`` or ``@socketio.event(namespace='/chat')``: the function's name
        is the event's."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def decorator(handler: F) -> F:
            return self.on(handler.__name__, *args, **kwargs)(handler)

        return decorator

    def on_namespace(self, namespace_handler: Namespace) -> None:
        """Register a class-based namespace (a :class:`socketwire.flask.Namespace`)."""
        from .namespace import Namespace

        if not isinstance(namespace_handler, Namespace):
            raise ValueError("on_namespace() needs a socketwire.flask.Namespace instance")
        namespace_handler._set_socketio(self)
        self.namespace_handlers.append(namespace_handler)
        if self.server is not None:
            self.server.register_namespace(_NamespaceBridge(namespace_handler))

    def on_error(self, namespace: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as the error handler of ``namespace``: it gets
        the exception; what it returns is the acknowledgement."""
        if callable(namespace):
            raise TypeError("use @socketio.on_error() or @socketio.on_error('/namespace')")

        def decorator(handler: F) -> F:
            self.exception_handlers[namespace or "/"] = handler
            return handler

        return decorator

    def on_error_default(self, handler: F) -> F:
        """Register the error handler of every namespace without one of its own."""
        if not callable(handler):
            raise ValueError("on_error_default is a decorator: @socketio.on_error_default")
        self.default_exception_handler = handler
        return handler

    def _register(self, message: str, handler: Callable[..., Any], namespace: str) -> None:
        self._registrations.append((message, handler, namespace))
        if self.server is not None:
            self.server.on(message, handler, namespace=namespace)

    def _server_handler(
        self, handler: Callable[..., Any], message: str, namespace: str
    ) -> Callable[..., Any]:
        """The function the server calls for ``handler`` (python-socketio's arguments)."""

        def server_handler(*args: Any) -> Any:
            return self._invoke(handler, message, namespace, args)

        server_handler.__name__ = getattr(handler, "__name__", message)
        return server_handler

    def _invoke(
        self,
        handler: Callable[..., Any],
        message: str,
        namespace: str,
        args: tuple[Any, ...],
        class_based: bool = False,
    ) -> Any:
        """Translate python-socketio's handler arguments (``[event,] [namespace,] sid,
        ...``) into Flask-SocketIO's and run ``handler`` in the Flask contexts."""
        rest = list(args)
        event = message
        if message == "*" and not class_based:
            event = rest.pop(0)
        nsp = namespace
        if namespace == "*":
            nsp = rest.pop(0)
        sid = rest.pop(0)
        if event == "connect":
            auth = rest[1] if len(rest) > 1 else None
            event_args: tuple[Any, ...] = (auth,)
            call_args = event_args if base.positional_count(handler) > 0 else ()
        elif event == "disconnect":
            event_args = tuple(rest[:1])
            call_args = event_args if base.positional_count(handler) > 0 else ()
        else:
            event_args = tuple(rest)
            call_args = (event, *event_args) if message == "*" else event_args
        tracker = self._trackers.get(sid)
        if tracker is None:
            return self._handle_event(handler, event, nsp, sid, event_args, call_args)
        # a test client's connection: it is told how the handler ended
        try:
            result = self._handle_event(handler, event, nsp, sid, event_args, call_args)
        except BaseException as exc:
            tracker(event, exc, None)
            raise
        tracker(event, None, result)
        return result

    # ------------------------------------------------------------------ contexts

    def _handle_event(
        self,
        handler: Callable[..., Any],
        message: str | None,
        namespace: str,
        sid: str,
        event_args: tuple[Any, ...],
        call_args: tuple[Any, ...],
    ) -> Any:
        """Call ``handler(*call_args)`` inside an app context and a request context built
        from ``sid``'s handshake request, with the connection's user session."""
        server = self._require_server()
        try:
            conn_environ = server.get_environ(sid)
        except SocketwireError:
            conn_environ = None
        app = (conn_environ or {}).get("flask.app") or self.app
        if app is None:
            raise RuntimeError("SocketIO is not attached to an app")
        if conn_environ is None:  # the client is gone (a late acknowledgement)
            with app.app_context():
                return handler(*call_args)
        environ = self._event_environ(conn_environ)
        forked: SessionMixin | None = None
        if self.manage_session:
            forked = conn_environ.get(SESSION_KEY)
            if forked is None:
                forked = self._fork_session(app, conn_environ)
        ctx = RequestContext(app, environ, session=forked)
        ctx.push()
        try:
            request = ctx.request
            setattr(request, "sid", sid)  # noqa: B010 - Flask's Request has no such field
            setattr(request, "namespace", namespace)  # noqa: B010
            setattr(request, "event", {"message": message, "args": event_args})  # noqa: B010
            try:
                return handler(*call_args)
            except ConnectionRefusedError:
                raise
            except Exception as exc:
                error_handler = self.exception_handlers.get(
                    namespace, self.default_exception_handler
                )
                if error_handler is None:
                    raise
                return error_handler(exc)
            finally:
                if not self.manage_session:
                    session = ctx.session
                    if getattr(session, "modified", True):
                        app.session_interface.save_session(app, session, app.response_class())
        finally:
            ctx.pop()

    def _event_environ(self, conn_environ: dict[str, Any]) -> dict[str, Any]:
        prepared: dict[str, Any] | None = conn_environ.get(ENVIRON_KEY)
        if prepared is None:
            prepared = {
                key: value
                for key, value in conn_environ.items()
                if not key.startswith("socketwire.flask.")
                and key not in _SOCKET_KEYS
                and key != SESSION_KEY
            }
            prepared.setdefault("REQUEST_METHOD", "GET")
            prepared.setdefault("SCRIPT_NAME", "")
            prepared.setdefault("PATH_INFO", f"/{self.path}/")
            prepared.setdefault("SERVER_PROTOCOL", "HTTP/1.1")
            prepared.setdefault("wsgi.url_scheme", "http")
            host = prepared.get("HTTP_HOST", "localhost")
            name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
            prepared.setdefault("SERVER_NAME", name or host)
            prepared.setdefault(
                "SERVER_PORT", port or ("443" if prepared["wsgi.url_scheme"] == "https" else "80")
            )
            prepared.update(
                {
                    "wsgi.version": (1, 0),
                    "wsgi.errors": sys.stderr,
                    "wsgi.multithread": True,
                    "wsgi.multiprocess": False,
                    "wsgi.run_once": False,
                    "CONTENT_LENGTH": "0",
                }
            )
            prepared.pop("CONTENT_TYPE", None)
            conn_environ[ENVIRON_KEY] = prepared
        environ = dict(prepared)
        environ["wsgi.input"] = io.BytesIO()
        return environ

    def _fork_session(self, app: flask.Flask, conn_environ: dict[str, Any]) -> SessionMixin:
        with app.request_context(self._event_environ(conn_environ)):
            copy = _ForkedSession(flask.session)
        with self._lock:
            forked: SessionMixin = conn_environ.setdefault(SESSION_KEY, copy)
        return forked

    def _context_sid(self) -> tuple[str | None, str | None]:
        """``(request.sid, request.namespace)`` inside a handler, else ``(None, None)``."""
        if not flask.has_request_context():
            return None, None
        return getattr(flask.request, "sid", None), getattr(flask.request, "namespace", None)

    # ------------------------------------------------------------------ emitting

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        include_self: bool = True,
        skip_sid: str | list[str] | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit ``event`` with ``args`` to every client of ``namespace`` (default ``'/'``),
        or to the room or sid ``to``. Safe from any thread. Inside a handler,
        ``include_self=False`` leaves out the client being handled, and ``callback`` runs
        in that client's context."""
        if self.server is None and self.message_queue is not None:
            # an emitter for other processes (a Celery task, a script): no app, no server
            self._external_emitter().emit(
                event,
                _data(args),
                to=to if to is not None else room,
                skip_sid=skip_sid,
                namespace=namespace or "/",
                callback=callback,
            )
            return
        server = self._require_server()
        namespace = namespace or "/"
        sid, context_namespace = self._context_sid()
        if not include_self and not skip_sid:
            if sid is None:
                raise RuntimeError("include_self=False needs a client: use it inside a handler")
            skip_sid = sid
        if callback is not None and sid is not None:
            callback = self._context_callback(callback, sid, context_namespace or namespace)
        server.emit(
            event,
            _data(args),
            to=to if to is not None else room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
        )

    def send(
        self,
        data: Any,
        json: bool = False,
        namespace: str | None = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        callback: Callable[..., Any] | None = None,
        include_self: bool = True,
        skip_sid: str | list[str] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Send a ``'message'`` event (``'json'`` with ``json=True``); see :meth:`emit`."""
        self.emit(
            "json" if json else "message",
            data,
            namespace=namespace,
            to=to,
            room=room,
            include_self=include_self,
            skip_sid=skip_sid,
            callback=callback,
            ignore_queue=ignore_queue,
        )

    def call(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        to: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emit ``event`` to the client ``to`` and wait for its acknowledgement."""
        return self._require_server().call(
            event, _data(args), to=to, namespace=namespace or "/", timeout=timeout
        )

    def _context_callback(
        self, callback: Callable[..., Any], sid: str, namespace: str
    ) -> Callable[..., Any]:
        def run_in_context(*args: Any) -> Any:
            return self._handle_event(callback, None, namespace, sid, args, args)

        return run_in_context

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        self._require_server().close_room(room, namespace=namespace or "/")

    # ------------------------------------------------------------------ tasks

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> threading.Thread:
        """Run ``target(*args, **kwargs)`` in a daemon thread; returns the started thread."""
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float = 0) -> None:
        """Sleep (a plain ``time.sleep``: socketwire runs on threads)."""
        if self.server is not None:
            self.server.sleep(seconds)
        else:
            import time

            time.sleep(seconds)

    # ------------------------------------------------------------------ serving

    def run(
        self,
        app: flask.Flask,
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Serve ``app`` and Socket.IO on socketwire's native server (WebSocket included;
        handlers on worker threads) until interrupted.

        Accepts Flask-SocketIO's arguments: ``debug`` (default ``app.debug``),
        ``use_reloader`` (default ``debug``), ``reloader_options``, ``extra_files``,
        ``log_output`` (default ``debug``), ``allow_unsafe_werkzeug`` (accepted; the native
        server is not Werkzeug's), ``certfile``/``keyfile`` or Werkzeug's
        ``ssl_context=(certfile, keyfile)`` for TLS, and server options
        (``ping_interval``, ``cors_allowed_origins``, ...) merged into the ones given
        before."""
        if host is None or port is None:
            server_name = app.config.get("SERVER_NAME") or ""
            name, _, port_text = server_name.partition(":")
            if host is None:
                host = name or "127.0.0.1"
            if port is None:
                port = int(port_text) if port_text.isdigit() else 5000
        debug = kwargs.pop("debug", app.debug)
        use_reloader = kwargs.pop("use_reloader", debug)
        reloader_options = dict(kwargs.pop("reloader_options", {}))
        extra_files = kwargs.pop("extra_files", None)
        log_output = kwargs.pop("log_output", debug)
        kwargs.pop("allow_unsafe_werkzeug", None)
        certfile = kwargs.pop("certfile", None) or kwargs.pop("ssl_certfile", None)
        keyfile = kwargs.pop("keyfile", None) or kwargs.pop("ssl_keyfile", None)
        ssl_context = kwargs.pop("ssl_context", None)
        if ssl_context is not None:
            # Werkzeug's form, which Flask-SocketIO hands to app.run() in threading mode
            if not (isinstance(ssl_context, (tuple, list)) and len(ssl_context) == 2):
                raise ValueError(
                    "ssl_context must be a (certfile, keyfile) pair here; or pass "
                    "certfile= and keyfile="
                )
            certfile, keyfile = ssl_context
        limits = {k: kwargs.pop(k) for k in list(kwargs) if k in HttpLimits.__dataclass_fields__}
        server_options = {key: kwargs.pop(key) for key in list(kwargs) if key in SERVER_OPTIONS}
        extension_options = {
            key: kwargs.pop(key) for key in list(kwargs) if key in EXTENSION_OPTIONS
        }
        if kwargs:
            raise TypeError(f"unexpected arguments to run(): {', '.join(sorted(kwargs))}")
        app.debug = debug
        if app not in self._mounts:
            self.init_app(app, **server_options, **extension_options)
        elif server_options or extension_options:
            self._configure({**server_options, **extension_options})
            self._build_server()
        target = self.__socketwire_mount__(app)
        log_level = "info" if log_output else None
        if log_output:
            logging.getLogger("socketwire").setLevel(logging.INFO)

        def serve() -> None:
            if self.async_mode == "eventlet":
                from ..transports import eventlet_server

                eventlet_server.serve(
                    target,
                    host or "127.0.0.1",
                    port or 5000,
                    certfile=certfile,
                    keyfile=keyfile,
                    log_output=bool(log_output),
                )
                return
            if self.async_mode in ("gevent", "gevent_uwsgi"):
                from ..transports import gevent_server

                tls = {"certfile": certfile, "keyfile": keyfile} if certfile else {}
                gevent_server.serve(target, host or "127.0.0.1", port or 5000, **tls)
                return
            native.run(
                target,
                host=host,
                port=port,
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
                log_level=log_level,
                **limits,
            )

        if use_reloader:
            from werkzeug._reloader import run_with_reloader

            run_with_reloader(serve, extra_files=extra_files, **reloader_options)
        else:
            serve()

    def stop(self) -> None:
        """Stop the server started by :meth:`run` (from a handler or another thread)."""
        os.kill(os.getpid(), signal.SIGINT)

    def test_client(
        self,
        app: flask.Flask,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        flask_test_client: Any = None,
    ) -> SocketIOTestClient:
        """A :class:`~socketwire.flask.SocketIOTestClient` connected to ``namespace``."""
        from .test_client import SocketIOTestClient

        return SocketIOTestClient(
            app,
            self,
            namespace=namespace,
            query_string=query_string,
            headers=headers,
            auth=auth,
            flask_test_client=flask_test_client,
        )


def _data(args: tuple[Any, ...]) -> Any:
    """Event arguments in python-socketio's ``data`` convention."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)
