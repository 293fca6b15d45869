"""What the sync and async servers share that is neither protocol nor I/O: the handler
registry, argument conventions (python-socketio's), and target resolution.

The runtimes differ only in how they *run* a handler (call it, or await it).
"""

from __future__ import annotations

import builtins
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .engineio.core import DisconnectReason
from .exceptions import ConnectionRefusedError
from .socketio.core import Socket, SocketIOCore

F = TypeVar("F", bound=Callable[..., Any])

default_logger = logging.getLogger("socketwire")

ENGINE_OPTIONS = (
    "ping_interval",
    "ping_timeout",
    "max_http_buffer_size",
    "transports",
    "cors_allowed_origins",
    "cors_credentials",
    "cookie",
    "http_compression",
    "compression_threshold",
    "upgrade_timeout",
    "allow_upgrades",
    "max_buffered_bytes",
    "max_buffered_packets",
    "trusted_proxies",
)
# python-socketio options accepted for compatibility and not needed here
IGNORED_OPTIONS = (
    "async_mode",
    "monitor_clients",
    "serializer",
    "engineio_logger",
    "logger",
)


#: the loggers ``logger=`` and ``engineio_logger=`` stand for when given True or False
SOCKETIO_LOGGER = "socketwire.socketio"
ENGINEIO_LOGGER = "socketwire.engineio"


def make_logger(value: Any, name: str) -> logging.Logger:
    """python-socketio's ``logger=`` / ``engineio_logger=`` convention: a Logger (used as
    is), True (the ``name`` logger at INFO, printing to stderr unless the app set up
    logging), or False (the ``name`` logger, left as the app configured it). Whether the
    per-packet trace is written is :func:`tracing`'s answer, not the logger's level."""
    if isinstance(value, logging.Logger):
        return value
    logger = logging.getLogger(name)
    if value:
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        if not logger.hasHandlers():
            logger.addHandler(logging.StreamHandler())
    return logger


def tracing(value: Any) -> bool:
    """True when ``logger=``/``engineio_logger=`` asks for python-socketio's trace of
    events, rooms and packets (True or a Logger)."""
    return isinstance(value, logging.Logger) or bool(value)


def positional_count(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (a large number for ``*args``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 99
    count = 0
    for param in sig.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            return 99
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def data_to_args(data: Any) -> list[Any]:
    """python-socketio's convention: None -> no argument, a tuple -> several, else one."""
    if data is None:
        return []
    if isinstance(data, tuple):
        return list(data)
    return [data]


def ack_args(result: Any) -> list[Any]:
    """A handler's return value as acknowledgement arguments."""
    return data_to_args(result)


def callback_result(args: list[Any]) -> Any:
    """``call()``'s return value from the ack arguments."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


def targets(to: Any, room: Any) -> list[str] | None:
    target = to if to is not None else room
    if target is None:
        return None
    if isinstance(target, str):
        return [target]
    return list(target)


def skips(skip_sid: Any) -> list[str] | None:
    if skip_sid is None:
        return None
    if isinstance(skip_sid, str):
        return [skip_sid]
    return list(skip_sid)


#: what a ``connect`` handler raises to refuse: socketwire's exception with data, or the
#: builtin one (a handler ported without its import), answered as python-socketio does
REFUSALS = (ConnectionRefusedError, builtins.ConnectionRefusedError)


def refusal(exc: BaseException | None, result: Any) -> dict[str, Any] | None:
    """The CONNECT_ERROR payload for a connect handler's outcome, or None to accept."""
    if isinstance(exc, ConnectionRefusedError):
        return exc.error_args()
    if isinstance(exc, builtins.ConnectionRefusedError):
        return {"message": "Connection refused by server"}
    if exc is not None:
        return {"message": "Connection rejected by server"}
    if result is False:
        return {"message": "Connection rejected by server"}
    return None


class HandlerRegistry:
    """``on``/``event``/``register_namespace`` and handler lookup, python-socketio style."""

    reason = DisconnectReason

    def __init__(self, namespaces: Iterable[str] | str | None) -> None:
        self.handlers: dict[str, dict[str, Callable[..., Any]]] = {}
        self.namespace_handlers: dict[str, Any] = {}
        self._arity: dict[Callable[..., Any], int] = {}
        if namespaces is None:
            self._namespaces: set[str] | str = {"/"}
        elif namespaces == "*":
            self._namespaces = "*"
        else:
            self._namespaces = {"/", *namespaces}

    def on(
        self, event: str, handler: Callable[..., Any] | None = None, namespace: str | None = None
    ) -> Any:
        """Register ``handler`` for ``event`` (decorator when ``handler`` is omitted).

        ``'*'`` as the event catches every event without a handler of its own (the handler
        gets the event name first); ``'*'`` as the namespace catches every namespace (the
        handler gets the namespace name before the sid)."""
        namespace = namespace or "/"

        def register(fn: F) -> F:
            self.handlers.setdefault(namespace, {})[event] = fn
            return fn

        if handler is None:
            return register
        register(handler)
        return None

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """Register a handler named after the function: ``@sio.event`` or
        ``@sio.event(namespace='/chat')``."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def decorator(fn: F) -> F:
            return self.on(fn.__name__, **kwargs)(fn)  # type: ignore[no-any-return]

        return decorator

    def register_namespace(self, namespace_handler: Any) -> None:
        """Register a class-based namespace (an ``AsyncNamespace``/``Namespace`` instance)."""
        namespace_handler._set_server(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    def namespace_allowed(self, nsp: str) -> bool:
        if self._namespaces == "*" or nsp in self._namespaces:
            return True
        return (
            nsp in self.handlers
            or nsp in self.namespace_handlers
            or "*" in self.handlers
            or "*" in self.namespace_handlers
        )

    def find_handler(self, nsp: str, event: str) -> tuple[Callable[..., Any] | None, list[Any]]:
        """The handler for ``event`` in ``nsp`` and the arguments to put before the sid."""
        handlers = self.handlers.get(nsp)
        if handlers is not None:
            fn = handlers.get(event)
            if fn is not None:
                return fn, []
            if event not in ("connect", "disconnect"):
                fn = handlers.get("*")
                if fn is not None:
                    return fn, [event]
        handlers = self.handlers.get("*")
        if handlers is not None:
            fn = handlers.get(event)
            if fn is not None:
                return fn, [nsp]
            if event not in ("connect", "disconnect"):
                fn = handlers.get("*")
                if fn is not None:
                    return fn, [event, nsp]
        if event.__class__ is not str:
            return None, []  # a numeric event name (valid on the wire) has no on_<name>
        ns_handler = self.namespace_handlers.get(nsp)
        prefix: list[Any] = []
        if ns_handler is None:
            # a catch-all class (``MyNamespace('*')``) gets the namespace before the sid
            ns_handler = self.namespace_handlers.get("*")
            prefix = [nsp]
        if ns_handler is not None:
            method = getattr(ns_handler, "on_" + event, None)
            if method is not None:
                return method, prefix
        return None, []

    def arity(self, fn: Callable[..., Any]) -> int:
        count = self._arity.get(fn)
        if count is None:
            count = self._arity[fn] = positional_count(fn)
        return count

    def connect_args(
        self, fn: Callable[..., Any], prefix: list[Any], socket: Socket, auth: Any
    ) -> list[Any]:
        # python-socketio passes None when the client sent no auth or an empty one (its own
        # client always sends ``{}``); apps test ``if auth is None``
        args = [*prefix, socket.sid, socket.client.session.request.environ, auth or None]
        if self.arity(fn) < len(args):  # handler written without ``auth``
            args.pop()
        return args

    def disconnect_args(
        self, fn: Callable[..., Any], prefix: list[Any], socket: Socket, reason: str
    ) -> list[Any]:
        args = [*prefix, socket.sid, reason]
        if self.arity(fn) < len(args):  # handler written without ``reason``
            args.pop()
        return args


def json_module(json: Any) -> Any:
    """python-socketio's ``json=``: a module with the standard library's ``dumps`` and
    ``loads``, used for event payloads instead of orjson (None keeps orjson)."""
    if json is None:
        return None
    if not callable(getattr(json, "dumps", None)) or not callable(getattr(json, "loads", None)):
        raise TypeError(f"json={json!r} needs dumps() and loads() like the json module")
    return json


def engine_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    serializer = kwargs.get("serializer", "default")
    if serializer not in ("default", None):
        # clients of a msgpack parser would get nothing they understand: refuse loudly
        raise ValueError(
            f"serializer={serializer!r} is not supported: socketwire speaks the default "
            "Socket.IO parser (JSON with binary attachments)"
        )
    options = {key: kwargs.pop(key) for key in ENGINE_OPTIONS if key in kwargs}
    interval = options.get("ping_interval")
    if isinstance(interval, (tuple, list)):
        # python-engineio's (interval, grace): the grace period lengthens the wait for a
        # pong, so a client answering late within it is kept
        interval, grace = interval
        options["ping_interval"] = interval
        options["ping_timeout"] = options.get("ping_timeout", 20) + grace
    origins = options.get("cors_allowed_origins")
    if isinstance(origins, (list, tuple, set)) and "*" in origins:
        options["cors_allowed_origins"] = "*"  # Flask-SocketIO documents ['*'] as '*'
    for key in IGNORED_OPTIONS:
        kwargs.pop(key, None)
    if kwargs:
        # python-engineio documents that options it does not know are ignored, and ported
        # apps carry some (client options, old names): say so, but keep serving
        default_logger.warning("ignoring unknown server options: %s", ", ".join(sorted(kwargs)))
    return options


__all__ = [
    "ConnectionRefusedError",
    "DisconnectReason",
    "HandlerRegistry",
    "SocketIOCore",
    "ack_args",
    "callback_result",
    "data_to_args",
    "engine_options",
    "make_logger",
    "refusal",
    "skips",
    "targets",
]
