"""socketwire: a fast Socket.IO v5 / Engine.IO v4 server for Python.

asyncio applications use :class:`AsyncServer` (python-socketio's API) served by the native
server (:func:`run`) or any ASGI server (:class:`ASGIApp`); threaded ones use :class:`Server`
served by the native server or a threaded WSGI server (:class:`WSGIApp`).
"""

from __future__ import annotations

from .aio.server import AsyncServer
from .engine_server import AsyncEngineServer, EngineServer
from .engineio.core import DisconnectReason
from .exceptions import (
    BadNamespaceError,
    ConnectionRefusedError,
    DisconnectedError,
    HTTPError,
    ProtocolError,
    SocketwireError,
    TimeoutError,
)
from .managers import AsyncAioPikaManager, AsyncRedisManager, KombuManager, RedisManager
from .namespace import AsyncNamespace, Namespace
from .server import Server
from .transports.asgi import ASGIApp
from .transports.native import create_server, run, serve
from .transports.tornado import get_tornado_handler
from .transports.wsgi import Middleware, WSGIApp

__version__ = "0.2.0"

__all__ = [
    "ASGIApp",
    "AsyncAioPikaManager",
    "AsyncEngineServer",
    "AsyncNamespace",
    "AsyncRedisManager",
    "AsyncServer",
    "BadNamespaceError",
    "ConnectionRefusedError",
    "DisconnectReason",
    "DisconnectedError",
    "EngineServer",
    "HTTPError",
    "KombuManager",
    "Middleware",
    "Namespace",
    "ProtocolError",
    "RedisManager",
    "Server",
    "SocketwireError",
    "TimeoutError",
    "WSGIApp",
    "create_server",
    "get_tornado_handler",
    "run",
    "serve",
]
