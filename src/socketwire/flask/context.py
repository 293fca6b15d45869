"""The context-aware functions used inside handlers (Flask-SocketIO's module-level API).

Inside a handler they default to the client being handled (``request.sid``) and its
namespace (``request.namespace``); ``to=``, ``broadcast=True``, ``sid=`` and ``namespace=``
override that."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flask

if TYPE_CHECKING:
    from .extension import SocketIO

__all__ = [
    "call",
    "close_room",
    "disconnect",
    "emit",
    "join_room",
    "leave_room",
    "rooms",
    "send",
]


def _socketio() -> SocketIO:
    try:
        return flask.current_app.extensions["socketio"]  # type: ignore[no-any-return]
    except RuntimeError:
        raise RuntimeError(
            "this function works inside a Socket.IO handler (an app context is needed); "
            "outside handlers use socketio.emit / socketio.send"
        ) from None
    except KeyError:
        raise RuntimeError("the current app has no SocketIO extension") from None


def _current(name: str) -> Any:
    if not flask.has_request_context():
        return None
    return getattr(flask.request, name, None)


def _client_sid(sid: str | None) -> str:
    sid = sid or _current("sid")
    if sid is None:
        raise RuntimeError("no current client: call this inside a Socket.IO handler or pass sid=")
    return sid


def emit(
    event: str,
    *args: Any,
    namespace: str | None = None,
    to: str | list[str] | None = None,
    room: str | list[str] | None = None,
    include_self: bool = True,
    skip_sid: str | list[str] | None = None,
    callback: Callable[..., Any] | None = None,
    broadcast: bool = False,
    ignore_queue: bool = False,
) -> None:
    """Emit ``event`` from a handler: to the current client by default; to a room or sid
    with ``to=``; to every client of the namespace with ``broadcast=True``.
    ``include_self=False`` leaves out the current client; ``callback`` gets the client's
    acknowledgement (run in the client's context)."""
    socketio = _socketio()
    if namespace is None:
        namespace = _current("namespace") or "/"
    target = to if to is not None else room
    if target is None and not broadcast:
        target = _client_sid(None)
    socketio.emit(
        event,
        *args,
        namespace=namespace,
        to=target,
        include_self=include_self,
        skip_sid=skip_sid,
        callback=callback,
        ignore_queue=ignore_queue,
    )


def send(
    message: Any,
    json: bool = False,
    namespace: str | None = None,
    to: str | list[str] | None = None,
    room: str | list[str] | None = None,
    include_self: bool = True,
    skip_sid: str | list[str] | None = None,
    callback: Callable[..., Any] | None = None,
    broadcast: bool = False,
    ignore_queue: bool = False,
) -> None:
    """Send an unnamed event: ``'message'``, or ``'json'`` with ``json=True``. Same
    targeting as :func:`emit`."""
    emit(
        "json" if json else "message",
        message,
        namespace=namespace,
        to=to,
        room=room,
        include_self=include_self,
        skip_sid=skip_sid,
        callback=callback,
        broadcast=broadcast,
        ignore_queue=ignore_queue,
    )


def call(
    event: str,
    *args: Any,
    namespace: str | None = None,
    to: str | None = None,
    timeout: float | None = 60,
    ignore_queue: bool = False,
) -> Any:
    """Emit ``event`` to one client (the current one by default) and wait for its
    acknowledgement; returns its argument (a tuple for several)."""
    socketio = _socketio()
    return socketio.call(
        event,
        *args,
        namespace=namespace or _current("namespace") or "/",
        to=_client_sid(to),
        timeout=timeout,
    )


def join_room(room: str, sid: str | None = None, namespace: str | None = None) -> None:
    """Put the current client (or ``sid``) in ``room``."""
    server = _socketio()._require_server()
    server.enter_room(_client_sid(sid), room, namespace=namespace or _current("namespace"))


def leave_room(room: str, sid: str | None = None, namespace: str | None = None) -> None:
    """Take the current client (or ``sid``) out of ``room``."""
    server = _socketio()._require_server()
    server.leave_room(_client_sid(sid), room, namespace=namespace or _current("namespace"))


def close_room(room: str, namespace: str | None = None) -> None:
    """Take every client out of ``room`` (in the current namespace by default)."""
    _socketio().close_room(room, namespace=namespace or _current("namespace") or "/")


def rooms(sid: str | None = None, namespace: str | None = None) -> list[str]:
    """The rooms of the current client (or ``sid``), its own sid room included."""
    server = _socketio()._require_server()
    return server.rooms(_client_sid(sid), namespace=namespace or _current("namespace"))


def disconnect(sid: str | None = None, namespace: str | None = None, silent: bool = False) -> None:
    """Disconnect the current client (or ``sid``) from its namespace; its ``disconnect``
    handler runs with reason ``'server disconnect'``."""
    server = _socketio()._require_server()
    server.disconnect(_client_sid(sid), namespace=namespace or _current("namespace"))
