"""Class-based namespaces for :class:`~socketwire.AsyncServer` (python-socketio's
``AsyncNamespace``): events go to ``on_<event>`` methods, which may be coroutines."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import AsyncServer

__all__ = ["AsyncNamespace"]


class AsyncNamespace:
    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self.server: AsyncServer | None = None

    def _set_server(self, server: Any) -> None:
        self.server = server

    def _srv(self) -> AsyncServer:
        if self.server is None:
            raise RuntimeError("register the namespace with a server first")
        return self.server

    def _nsp(self, namespace: str | None) -> str:
        return namespace or self.namespace

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Call ``on_<event>`` (python-socketio compatibility; the server dispatches
        directly)."""
        handler = getattr(self, "on_" + event, None)
        if handler is None:
            return None
        result = handler(*args)
        if hasattr(result, "__await__"):
            result = await result
        return result

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        await self._srv().emit(event, data, to, room, skip_sid, self._nsp(namespace), callback)

    async def send(
        self,
        data: Any,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        await self._srv().send(data, to, room, skip_sid, self._nsp(namespace), callback)

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        return await self._srv().call(event, data, to, sid, self._nsp(namespace), timeout)

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        await self._srv().enter_room(sid, room, self._nsp(namespace))

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        await self._srv().leave_room(sid, room, self._nsp(namespace))

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        await self._srv().close_room(room, self._nsp(namespace))

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        return self._srv().rooms(sid, self._nsp(namespace))

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return await self._srv().get_session(sid, self._nsp(namespace))

    async def save_session(
        self, sid: str, session: dict[str, Any], namespace: str | None = None
    ) -> None:
        await self._srv().save_session(sid, session, self._nsp(namespace))

    def session(self, sid: str, namespace: str | None = None) -> Any:
        return self._srv().session(sid, self._nsp(namespace))

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        await self._srv().disconnect(sid, self._nsp(namespace))
