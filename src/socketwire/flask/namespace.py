"""Class-based namespaces for the Flask extension (Flask-SocketIO's ``Namespace``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extension import SocketIO

__all__ = ["Namespace"]


class Namespace:
    """Subclass, define ``on_connect``, ``on_disconnect`` and ``on_<event>`` methods, and
    register an instance with ``socketio.on_namespace(MyNamespace('/chat'))``. Methods run
    in the same Flask contexts as decorated handlers, so ``emit``, ``send``, ``join_room``
    ... work in them. The helper methods below default to this namespace; like
    ``socketio.emit`` they broadcast unless given a room."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self.socketio: SocketIO | None = None

    def _set_socketio(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    def _sio(self) -> SocketIO:
        if self.socketio is None:
            raise RuntimeError("register the namespace with socketio.on_namespace() first")
        return self.socketio

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Dispatch ``event`` to ``on_<event>``; ``args`` are the server's (sid first).
        Override to intercept every event of the namespace (call ``super()``)."""
        handler = getattr(self, "on_" + event, None)
        if handler is None:
            return None
        return self._sio()._invoke(handler, event, self.namespace, args, class_based=True)

    def emit(
        self,
        event: str,
        data: Any = None,
        room: str | None = None,
        include_self: bool = True,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        to: str | None = None,
    ) -> None:
        self._sio().emit(
            event,
            *(() if data is None else (data,)),
            to=to if to is not None else room,
            include_self=include_self,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def send(
        self,
        data: Any,
        room: str | None = None,
        include_self: bool = True,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        to: str | None = None,
    ) -> None:
        self._sio().send(
            data,
            to=to if to is not None else room,
            include_self=include_self,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
    ) -> Any:
        return self._sio().call(
            event,
            *(() if data is None else (data,)),
            to=to,
            namespace=namespace or self.namespace,
            timeout=timeout,
        )

    def close_room(self, room: str, namespace: str | None = None) -> None:
        self._sio().close_room(room, namespace=namespace or self.namespace)

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self._sio()._require_server().enter_room(sid, room, namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self._sio()._require_server().leave_room(sid, room, namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        return self._sio()._require_server().rooms(sid, namespace or self.namespace)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        self._sio()._require_server().disconnect(sid, namespace or self.namespace)
