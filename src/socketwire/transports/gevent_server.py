"""gevent deployment: a threaded :class:`socketwire.Server` under gevent's WSGI server, with
WebSocket, after ``gevent.monkey.patch_all()`` (the server's locks, timer thread and worker
pool then run as greenlets).

    from gevent import monkey; monkey.patch_all()   # first thing in the program
    from socketwire.transports.gevent_server import serve
    serve(socketwire.WSGIApp(sio, flask_app), "0.0.0.0", 5000)

gunicorn's ``-k gevent`` worker needs nothing of this module: it exposes the socket that
:class:`~socketwire.WSGIApp` needs for WebSocket.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

__all__ = ["make_server", "serve"]


def _handler_class() -> Any:
    from gevent import pywsgi

    class SocketHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
        """Exposes the connection's socket to the application for WebSocket upgrades."""

        def get_environ(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().get_environ()
            environ["socketwire.socket"] = self.socket
            # small responses (polls, frames) must not wait for Nagle and a delayed ACK
            with contextlib.suppress(OSError, AttributeError):
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return environ

    return SocketHandler


def make_server(app: Any, host: str = "127.0.0.1", port: int = 5000, **kwargs: Any) -> Any:
    """A ``gevent.pywsgi.WSGIServer`` serving ``app`` with WebSocket support."""
    from gevent import pywsgi

    kwargs.setdefault("log", None)
    return pywsgi.WSGIServer((host, port), app, handler_class=_handler_class(), **kwargs)


def serve(app: Any, host: str = "127.0.0.1", port: int = 5000, **kwargs: Any) -> None:
    """Serve ``app`` (a ``WSGIApp``) with gevent until interrupted."""
    make_server(app, host, port, **kwargs).serve_forever()
