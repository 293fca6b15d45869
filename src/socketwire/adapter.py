"""Rooms: which sockets are in which room of a namespace (in-memory adapter).

Two maps, as in socket.io's in-memory adapter: ``rooms[nsp][room] -> {sid: socket}`` and, on
each socket, ``socket.rooms`` (the rooms it is in). Every socket is in the room named after
its own sid, so ``to=sid`` and ``to=room`` resolve the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .socketio.core import Socket

__all__ = ["MemoryAdapter"]


class MemoryAdapter:
    __slots__ = ("namespaces", "rooms")

    def __init__(self) -> None:
        #: nsp -> sid -> socket, every socket of the namespace
        self.namespaces: dict[str, dict[str, Socket]] = {}
        #: nsp -> room -> sid -> socket
        self.rooms: dict[str, dict[str, dict[str, Socket]]] = {}

    def add(self, socket: Socket) -> None:
        self.namespaces.setdefault(socket.nsp, {})[socket.sid] = socket
        self.join(socket, socket.sid)

    def remove(self, socket: Socket) -> None:
        for room in list(socket.rooms):
            self.leave(socket, room)
        members = self.namespaces.get(socket.nsp)
        if members is not None:
            members.pop(socket.sid, None)
            if not members:
                del self.namespaces[socket.nsp]

    def join(self, socket: Socket, room: str) -> None:
        self.rooms.setdefault(socket.nsp, {}).setdefault(room, {})[socket.sid] = socket
        socket.rooms[room] = None

    def leave(self, socket: Socket, room: str) -> None:
        socket.rooms.pop(room, None)
        nsp_rooms = self.rooms.get(socket.nsp)
        if nsp_rooms is None:
            return
        members = nsp_rooms.get(room)
        if members is None:
            return
        members.pop(socket.sid, None)
        if not members:
            del nsp_rooms[room]
            if not nsp_rooms:
                del self.rooms[socket.nsp]

    def room_members(self, nsp: str, room: str) -> list[Socket]:
        return list(self.rooms.get(nsp, {}).get(room, {}).values())

    def select(
        self, nsp: str, rooms: Iterable[str] | None, skip: Iterable[str] | None = None
    ) -> list[Socket]:
        """The sockets of ``nsp`` in any of ``rooms`` (all when None), less those in ``skip``
        (sids or rooms: socket.io's ``except()``), each once."""
        if rooms is None:
            selected = self.namespaces.get(nsp, {})
        else:
            nsp_rooms = self.rooms.get(nsp, {})
            selected = {}
            for room in rooms:
                members = nsp_rooms.get(room)
                if members:
                    selected.update(members)
        if not skip:
            return list(selected.values())
        excluded: set[str] = set()
        nsp_rooms = self.rooms.get(nsp, {})
        for name in skip:
            members = nsp_rooms.get(name)
            if members:
                excluded.update(members)
        return [s for sid, s in selected.items() if sid not in excluded]
