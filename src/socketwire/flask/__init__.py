"""Flask integration with Flask-SocketIO's API: port an app by changing
``from flask_socketio import ...`` to ``from socketwire.flask import ...``.

Handlers run on socketwire's threaded :class:`socketwire.Server` (a pool of worker threads),
each inside an application context and a request context built from the connection's
handshake request, with ``request.sid``, ``request.namespace`` and ``request.event`` set.
``socketio.run(app)`` serves the app on socketwire's native server; ``flask run``, gunicorn
``-k gthread`` and any threaded WSGI server work too, WebSocket included, because
``SocketIO(app)`` wraps ``app.wsgi_app`` with :class:`socketwire.WSGIApp`.
"""

from __future__ import annotations

from ..exceptions import ConnectionRefusedError
from .context import (
    call,
    close_room,
    disconnect,
    emit,
    join_room,
    leave_room,
    rooms,
    send,
)
from .extension import SocketIO
from .namespace import Namespace
from .test_client import SocketIOTestClient

__all__ = [
    "ConnectionRefusedError",
    "Namespace",
    "SocketIO",
    "SocketIOTestClient",
    "call",
    "close_room",
    "disconnect",
    "emit",
    "join_room",
    "leave_room",
    "rooms",
    "send",
]
