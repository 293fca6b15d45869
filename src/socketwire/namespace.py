"""Class-based namespaces (python-socketio's ``Namespace`` / ``AsyncNamespace``): events go to
``on_<event>`` methods. The helper methods forward to the server with this namespace as the
default; on an ``AsyncServer`` they return awaitables, on a ``Server`` they act at once, so
one class body serves both."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["AsyncNamespace", "Namespace"]


class Namespace:
    """Subclass and define ``on_connect``, ``on_disconnect``, ``on_<event>`` methods; then
    ``sio.register_namespace(MyNamespace('/chat'))``."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self.server: Any = None

    def _set_server(self, server: Any) -> None:
        self.server = server

    def _srv(self) -> Any:
        if self.server is None:
            raise RuntimeError("register the namespace with a server first")
        return self.server

    def _nsp(self, namespace: str | None) -> str:
        return namespace or self.namespace

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Call ``on_<event>`` with ``args`` (None if there is no such method)."""
        handler = getattr(self, "on_" + event, None)
        return None if handler is None else handler(*args)

    def emit(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> Any:
        return self._srv().emit(
            event,
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=self._nsp(namespace),
            callback=callback,
        )

    def send(
        self,
        data: Any,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> Any:
        return self._srv().send(
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=self._nsp(namespace),
            callback=callback,
        )

    def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        return self._srv().call(
            event, data, to=to, sid=sid, namespace=self._nsp(namespace), timeout=timeout
        )

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> Any:
        return self._srv().enter_room(sid, room, namespace=self._nsp(namespace))

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> Any:
        return self._srv().leave_room(sid, room, namespace=self._nsp(namespace))

    def close_room(self, room: str, namespace: str | None = None) -> Any:
        return self._srv().close_room(room, namespace=self._nsp(namespace))

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        return list(self._srv().rooms(sid, namespace=self._nsp(namespace)))

    def get_session(self, sid: str, namespace: str | None = None) -> Any:
        return self._srv().get_session(sid, namespace=self._nsp(namespace))

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> Any:
        return self._srv().save_session(sid, session, namespace=self._nsp(namespace))

    def session(self, sid: str, namespace: str | None = None) -> Any:
        return self._srv().session(sid, namespace=self._nsp(namespace))

    def disconnect(self, sid: str, namespace: str | None = None) -> Any:
        return self._srv().disconnect(sid, namespace=self._nsp(namespace))


class AsyncNamespace(Namespace):
    """The asyncio variant: handlers may be coroutines; helpers return awaitables."""

    async def trigger_event(self, event: str, *args: Any) -> Any:
        result = super().trigger_event(event, *args)
        if hasattr(result, "__await__"):
            result = await result
        return result
