"""python-socketio's client-manager queries, for code that reads ``sio.manager``:
``get_participants``, ``get_rooms``, ``get_namespaces``, ``is_connected``, ``rooms``.

Every server has a ``manager``: the message-queue manager given as ``client_manager``, or
else a :class:`LocalManager`. The answers are this process's clients (as in python-socketio);
``sio.fetch_sockets()`` asks the whole cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["LocalManager", "ManagerQueries"]


class ManagerQueries:
    server: Any

    def get_namespaces(self) -> list[str]:
        """The namespaces with connected clients here."""
        return list(self.server.core.adapter.namespaces)

    def get_participants(self, namespace: str, room: str | None) -> Iterator[tuple[str, str]]:
        """``(sid, eio_sid)`` of this process's clients in ``room`` of ``namespace`` (all of
        the namespace when ``room`` is None)."""
        with self.server.driver.lock:
            sockets = self.server.core.adapter.select(namespace, None if room is None else [room])
        for socket in sockets:
            yield socket.sid, socket.eio_sid

    def get_rooms(self, sid: str, namespace: str) -> list[str]:
        return list(self.server.rooms(sid, namespace))

    def is_connected(self, sid: str, namespace: str) -> bool:
        socket = self.server.core.sockets.get(sid)
        return socket is not None and socket.nsp == namespace and socket.connected

    def sid_from_eio_sid(self, eio_sid: str, namespace: str) -> str | None:
        session = self.server.core.engine.sessions.get(eio_sid)
        client = session.data if session is not None else None
        socket = client.sockets.get(namespace) if client is not None else None
        return socket.sid if socket is not None else None

    @property
    def rooms(self) -> dict[str, dict[str, dict[str, str]]]:
        """A snapshot: namespace -> room -> {sid: eio_sid}."""
        with self.server.driver.lock:
            return {
                nsp: {
                    room: {sid: socket.eio_sid for sid, socket in members.items()}
                    for room, members in rooms.items()
                }
                for nsp, rooms in self.server.core.adapter.rooms.items()
            }


class LocalManager(ManagerQueries):
    """The manager of a server without a message queue: queries only."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def start(self) -> None:
        """Nothing to start: no broker."""

    def close(self) -> None:
        """Nothing to close: no broker."""
