"""socketwire's exceptions.

Two families, as in h11: errors a *peer* causes (bad bytes, bad requests) carry the HTTP
status to answer with; errors the *application* causes are raised at the call site.

    SocketwireError
    ├── ProtocolError               a peer sent something the protocol forbids
    │   └── HTTPError               ... answered with an HTTP status (400, 403, 413)
    ├── ConnectionRefusedError      raised by a connect handler to refuse, with data
    ├── TimeoutError                ``call()``/``emit_with_ack()``: acknowledgements late
    ├── BadNamespaceError           emitting to a namespace the client is not connected to
    └── DisconnectedError           the target client is gone
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "BadNamespaceError",
    "ConnectionRefusedError",
    "DisconnectedError",
    "HTTPError",
    "ProtocolError",
    "SocketIOError",
    "SocketwireError",
    "TimeoutError",
]


class SocketwireError(Exception):
    """Base class of every exception socketwire raises."""


#: python-socketio's name for the base class (``except socketio.exceptions.SocketIOError``)
SocketIOError = SocketwireError


class ProtocolError(SocketwireError):
    """A peer violated the Engine.IO or Socket.IO protocol; the session is closed."""


class HTTPError(ProtocolError):
    """A request that is answered with an HTTP error status and an Engine.IO error body.

    ``code`` is the Engine.IO error code (0 unknown transport, 1 unknown sid, 2 bad handshake
    method, 3 bad request, 4 forbidden, 5 unsupported protocol version), as in the Engine.IO
    v4 reference server, so clients can tell the cases apart.
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ConnectionRefusedError(SocketwireError, builtins.ConnectionRefusedError):
    """Raise in a ``connect`` handler to refuse the connection.

    The client receives a CONNECT_ERROR packet ``{"message": ..., "data": ...}``: the first
    argument is the message, further arguments become ``data`` (one argument as is, several
    as a list), matching python-socketio.
    """

    def __init__(self, *args: Any) -> None:
        message = str(args[0]) if args else "Connection rejected by server"
        super().__init__(message)
        self.message = message
        if len(args) > 2:
            self.data: Any = list(args[1:])
        elif len(args) == 2:
            self.data = args[1]
        else:
            self.data = None

    def error_args(self) -> dict[str, Any]:
        """The CONNECT_ERROR payload (Socket.IO v5 section 'CONNECT_ERROR')."""
        payload: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


class TimeoutError(SocketwireError, builtins.TimeoutError):
    """No acknowledgement arrived within the timeout given to ``call()``, or not every
    recipient of ``emit_with_ack()`` answered in time: then ``responses`` holds the answers
    that did arrive (Node's ``emitWithAck`` rejects with them too)."""

    def __init__(self, *args: Any, responses: list[Any] | None = None) -> None:
        super().__init__(*args)
        #: the acknowledgements received before the timeout (``emit_with_ack``)
        self.responses: list[Any] = [] if responses is None else responses


class BadNamespaceError(SocketwireError):
    """The client is not connected to the namespace named in the call."""


class DisconnectedError(SocketwireError):
    """The client disconnected before the operation completed."""
