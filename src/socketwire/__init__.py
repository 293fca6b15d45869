"""socketwire: a fast Socket.IO v5 / Engine.IO v4 server for Python.

asyncio applications use :class:`AsyncServer` (python-socketio's API) served by the native
server (:func:`run`) or any ASGI server (:class:`ASGIApp`).
"""

from __future__ import annotations

from .aio.engine import AsyncEngineServer
from .aio.namespace import AsyncNamespace
from .aio.server import AsyncServer
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
from .transports.asgi import ASGIApp
from .transports.native import create_server, run, serve

__version__ = "0.1.0"

__all__ = [
    "ASGIApp",
    "AsyncEngineServer",
    "AsyncNamespace",
    "AsyncServer",
    "BadNamespaceError",
    "ConnectionRefusedError",
    "DisconnectReason",
    "DisconnectedError",
    "HTTPError",
    "ProtocolError",
    "SocketwireError",
    "TimeoutError",
    "create_server",
    "run",
    "serve",
]
