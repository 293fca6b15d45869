"""socketwire: a fast Socket.IO v5 / Engine.IO v4 server for Python.

asyncio applications use :class:`AsyncServer` (python-socketio's API) served by the native
server (:func:`run`) or any ASGI server (:class:`ASGIApp`); threaded ones use :class:`Server`
served by the native server or a threaded WSGI server (:class:`WSGIApp`).
"""

from __future__ import annotations

from ._green import green_under_uwsgi

# In a uWSGI worker on its gevent loop, everything must be green before the app's own
# module-level objects (a threading.Event, a lock) are made: patch at import.
green_under_uwsgi()

from .aio.server import AsyncServer  # noqa: E402
from .engine_server import AsyncEngineServer, EngineServer  # noqa: E402
from .engineio.core import DisconnectReason  # noqa: E402
from .exceptions import (  # noqa: E402
    BadNamespaceError,
    ConnectionRefusedError,
    DisconnectedError,
    HTTPError,
    ProtocolError,
    SocketwireError,
    TimeoutError,
)
from .managers import AsyncAioPikaManager, AsyncRedisManager, KombuManager, RedisManager  # noqa: E402
from .namespace import AsyncNamespace, Namespace  # noqa: E402
from .server import Server  # noqa: E402
from .transports.asgi import ASGIApp  # noqa: E402
from .transports.native import create_server, run, serve  # noqa: E402
from .transports.tornado import get_tornado_handler  # noqa: E402
from .transports.wsgi import Middleware, WSGIApp  # noqa: E402

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
