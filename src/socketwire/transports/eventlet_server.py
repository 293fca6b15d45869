"""eventlet deployment: a threaded :class:`socketwire.Server` under eventlet's WSGI server,
with WebSocket, after ``eventlet.monkey_patch()`` (the server's locks, timer thread and
worker pool then run as green threads).

    import eventlet; eventlet.monkey_patch()   # first thing in the program
    from socketwire.transports.eventlet_server import serve
    serve(socketwire.WSGIApp(sio, flask_app), "0.0.0.0", 5000)

gunicorn's ``-k eventlet`` worker (gunicorn 25.x and older) needs nothing of this module: it
exposes the socket that :class:`~socketwire.WSGIApp` needs for WebSocket. eventlet itself is
deprecated by its maintainers; it is supported here for the apps that already use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["serve"]


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    log_output: bool = False,
) -> None:
    """Serve ``app`` (a ``WSGIApp``) with ``eventlet.wsgi`` until interrupted."""
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((host, port))
    if certfile:
        listener = eventlet.wrap_ssl(listener, certfile=certfile, keyfile=keyfile, server_side=True)
    eventlet.wsgi.server(listener, app, log_output=log_output)
