"""The cluster protocol, sans I/O: what nodes of one application tell each other through a
message queue, and what a node does with what it hears.

Every operation that may concern clients of other nodes becomes one message (msgpack map):

====== ===================================================== ============================
op     fields                                                effect on each other node
====== ===================================================== ============================
emit   nsp, rooms (None: all), except, packet [text, [bin]]  deliver the pre-encoded packet
                                                             to its local matches
call   nsp, rooms, except, args, reply {node, id}            emit ``args`` with a local ack
                                                             id; the ack goes back as ``ack``
ack    to (node), id, args                                   only node ``to``: run the
                                                             callback registered as ``id``
join   nsp, sids, room                                       local sockets among ``sids``
                                                             enter ``room``
leave  nsp, sids, room                                       ... leave ``room``
close  nsp, room                                             everyone leaves ``room``
kick   nsp, sids                                             disconnect local ``sids``
fetch  nsp, rooms, except, reply {node, id}                  answer ``sockets`` with its
                                                             local matches
sockets to (node), id, sockets [{sid, nsp, rooms}]           only node ``to``: collect
hello  answer (bool)                                         note the sender alive (and
                                                             say hello back if asked)
====== ===================================================== ============================

Nodes say ``hello`` when they start and every :data:`HEARTBEAT` seconds, so each knows which
others are alive: a cluster-wide query (``fetch``) waits for exactly those, or its timeout.

Every message also carries ``v`` (this format's version), ``ch`` (the channel: several apps
may share a broker) and ``node`` (the sender's id: a node ignores its own messages). A message
that fails validation is logged and dropped by the caller; nothing in it is ever executed,
and nothing is unpickled.

The Socket.IO packet of an ``emit`` is encoded once by the sender, so a cluster-wide
broadcast is encoded once in the whole cluster.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from .exceptions import ProtocolError
from .socketio import packet as sio
from .socketio.core import Socket, SocketIOCore, to_packets
from .socketio.packet import PacketType

__all__ = ["VERSION", "ClusterMessageError", "ClusterNode", "decode", "encode"]

VERSION = 1
#: seconds between a node's ``hello`` messages; a node unheard of for 2.5 times as long is
#: taken for gone
HEARTBEAT = 5.0
#: the largest message a node accepts (bytes)
MAX_MESSAGE = 64 * 1024 * 1024


class ClusterMessageError(ProtocolError):
    """A message on the channel is malformed, foreign, or of an unknown version."""


def encode(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def _str_list(value: Any, field: str, optional: bool = False) -> list[str] | None:
    if value is None and optional:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ClusterMessageError(f"{field} must be a list of strings")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ClusterMessageError(f"{field} must be a string")
    return value


def decode(data: bytes, channel: str) -> dict[str, Any]:
    """Decode and validate one message; raises :class:`ClusterMessageError`."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_MESSAGE:
        raise ClusterMessageError("not a message of this protocol")
    try:
        message = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ClusterMessageError(f"undecodable message: {exc}") from None
    if not isinstance(message, dict):
        raise ClusterMessageError("message is not a map")
    if message.get("v") != VERSION:
        raise ClusterMessageError(f"unsupported version {message.get('v')!r}")
    if message.get("ch") != channel:
        raise ClusterMessageError(f"message of channel {message.get('ch')!r}")
    _str(message.get("node"), "node")
    op = message.get("op")
    if op == "hello":
        if not isinstance(message.get("answer"), bool):
            raise ClusterMessageError("answer must be a boolean")
        return message
    if op == "sockets":
        _str(message.get("to"), "to")
        if not isinstance(message.get("id"), int):
            raise ClusterMessageError("id must be an integer")
        sockets = message.get("sockets")
        if not isinstance(sockets, list) or not all(
            isinstance(item, dict)
            and isinstance(item.get("sid"), str)
            and isinstance(item.get("nsp"), str)
            and _str_list(item.get("rooms"), "rooms") is not None
            for item in sockets
        ):
            raise ClusterMessageError("sockets must be [{sid, nsp, rooms}]")
        return message
    if op == "ack":
        _str(message.get("to"), "to")
        if not isinstance(message.get("id"), int):
            raise ClusterMessageError("id must be an integer")
        if not isinstance(message.get("args"), list):
            raise ClusterMessageError("args must be a list")
        return message
    nsp = _str(message.get("nsp"), "nsp")
    if not nsp.startswith("/"):
        raise ClusterMessageError("nsp must start with /")
    if op == "emit" or op == "call" or op == "fetch":
        _str_list(message.get("rooms"), "rooms", optional=True)
        _str_list(message.get("except"), "except")
        if op == "emit":
            packet = message.get("packet")
            if (
                not isinstance(packet, list)
                or len(packet) != 2
                or not isinstance(packet[0], str)
                or not isinstance(packet[1], list)
                or not all(isinstance(b, bytes) for b in packet[1])
            ):
                raise ClusterMessageError("packet must be [text, [bytes...]]")
            try:
                decoded = sio.decode(packet[0], max_attachments=len(packet[1]))
            except ProtocolError as exc:
                raise ClusterMessageError(f"invalid Socket.IO packet: {exc}") from None
            if decoded.type not in (PacketType.EVENT, PacketType.BINARY_EVENT) or (
                decoded.nsp != nsp or decoded.attachments != len(packet[1])
            ):
                raise ClusterMessageError("packet does not match the message")
        else:
            if op == "call":
                args = message.get("args")
                if not isinstance(args, list) or not args or not isinstance(args[0], str):
                    raise ClusterMessageError("args must be [event, ...]")
            reply = message.get("reply")
            if (
                not isinstance(reply, dict)
                or not isinstance(reply.get("node"), str)
                or not isinstance(reply.get("id"), int)
            ):
                raise ClusterMessageError("reply must be {node, id}")
    elif op == "join" or op == "leave":
        _str_list(message.get("sids"), "sids")
        _str(message.get("room"), "room")
    elif op == "close":
        _str(message.get("room"), "room")
    elif op == "kick":
        _str_list(message.get("sids"), "sids")
    else:
        raise ClusterMessageError(f"unknown op {op!r}")
    return message


class ClusterNode:
    """One node's side of the protocol: builds messages for local operations and applies
    the messages of other nodes to its :class:`SocketIOCore` (``core`` is None for a
    write-only emitter)."""

    def __init__(
        self,
        core: SocketIOCore | None,
        channel: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.channel = channel
        self.clock = clock
        self.node_id = secrets.token_hex(8)
        self._ids = itertools.count(1)
        #: callbacks of calls/emits whose acks other nodes will send back
        self.callbacks: dict[int, Callable[..., Any]] = {}
        #: other nodes heard of: node id -> when (the caller's clock)
        self.peers: dict[str, float] = {}
        #: cluster-wide queries in progress: id -> Query
        self.queries: dict[int, Query] = {}

    def _message(self, op: str, **fields: Any) -> dict[str, Any]:
        return {"v": VERSION, "ch": self.channel, "node": self.node_id, "op": op, **fields}

    # ------------------------------------------------------------ building

    def emit(
        self,
        nsp: str,
        args: list[Any],
        rooms: list[str] | None,
        skip: list[str] | None,
        callback: Callable[..., Any] | None = None,
    ) -> dict[str, Any]:
        """The message for an emit (with ``callback``: acks come back to this node)."""
        if callback is not None:
            ack_id = next(self._ids)
            self.callbacks[ack_id] = callback
            return self._message(
                "call",
                nsp=nsp,
                rooms=rooms,
                args=args,
                reply={"node": self.node_id, "id": ack_id},
                **{"except": skip or []},
            )
        json = self.core.json if self.core is not None else None
        text, attachments = sio.encode(PacketType.EVENT, nsp, args, json=json)
        return self._message(
            "emit", nsp=nsp, rooms=rooms, packet=[text, attachments], **{"except": skip or []}
        )

    def forget(self, callback: Callable[..., Any]) -> None:
        for ack_id, stored in list(self.callbacks.items()):
            if stored is callback:
                del self.callbacks[ack_id]

    def join(self, nsp: str, sids: list[str], room: str) -> dict[str, Any]:
        return self._message("join", nsp=nsp, sids=sids, room=room)

    def leave(self, nsp: str, sids: list[str], room: str) -> dict[str, Any]:
        return self._message("leave", nsp=nsp, sids=sids, room=room)

    def close_room(self, nsp: str, room: str) -> dict[str, Any]:
        return self._message("close", nsp=nsp, room=room)

    def kick(self, nsp: str, sids: list[str]) -> dict[str, Any]:
        return self._message("kick", nsp=nsp, sids=sids)

    def ack(self, to: str, ack_id: int, args: list[Any]) -> dict[str, Any]:
        return self._message("ack", to=to, id=ack_id, args=args)

    def hello(self, answer: bool = False) -> dict[str, Any]:
        return self._message("hello", answer=answer)

    def alive_peers(self, now: float) -> set[str]:
        limit = now - 2.5 * HEARTBEAT
        return {node for node, seen in self.peers.items() if seen >= limit}

    def fetch(
        self,
        nsp: str,
        rooms: list[str] | None,
        skip: list[str] | None,
        now: float,
        done: Callable[[Query], None],
    ) -> tuple[Query, dict[str, Any] | None]:
        """Start a cluster-wide query for the sockets of ``nsp`` in ``rooms``: returns the
        query (its local part filled in) and the message to publish (None when no other node
        is alive). ``done(query)`` is called once every alive node has answered."""
        query_id = next(self._ids)
        query = Query(query_id, self.alive_peers(now), done)
        if self.core is not None:
            query.sockets.extend(_describe(self.core.adapter.select(nsp, rooms, skip)))
        if not query.waiting:
            return query, None
        self.queries[query_id] = query
        message = self._message(
            "fetch",
            nsp=nsp,
            rooms=rooms,
            reply={"node": self.node_id, "id": query_id},
            **{"except": skip or []},
        )
        return query, message

    def forget_query(self, query: Query) -> None:
        self.queries.pop(query.id, None)

    # ------------------------------------------------------------ applying

    def apply(
        self, message: dict[str, Any], reply: Callable[[dict[str, Any]], None]
    ) -> Callable[..., Any] | None:
        """Apply a validated message of another node. ``reply`` publishes a message (the
        acks of a ``call``). For an ``ack`` addressed here, returns the callback to run with
        ``message['args']``; the runtime runs it."""
        op = message["op"]
        sender = message["node"]
        if sender == self.node_id:
            return None
        if op == "hello":
            new = sender not in self.peers
            self.peers[sender] = self.clock()
            if message["answer"] or new:
                # a newcomer learns of us at once instead of at our next heartbeat
                reply(self.hello(answer=False))
            return None
        self.peers[sender] = self.clock()
        if op == "sockets":
            if message["to"] == self.node_id:
                query = self.queries.get(message["id"])
                if query is not None:
                    query.sockets.extend(message["sockets"])
                    query.waiting.discard(sender)
                    if not query.waiting:
                        del self.queries[query.id]
                        query.done(query)
            return None
        if op == "ack":
            if message["to"] != self.node_id:
                return None
            return self.callbacks.pop(message["id"], None)
        core = self.core
        if core is None:
            return None
        nsp = message["nsp"]
        if op == "emit":
            text, attachments = message["packet"]
            targets = core.adapter.select(nsp, message["rooms"], message["except"])
            if targets:
                core._deliver(targets, to_packets(text, attachments))
        elif op == "call":
            origin = message["reply"]

            def answer(*args: Any) -> None:
                reply(self.ack(origin["node"], origin["id"], list(args)))

            core.emit(nsp, message["args"], message["rooms"], message["except"], _Relay(answer))
        elif op in ("join", "leave", "kick"):
            for socket in self._local(core, nsp, message["sids"]):
                if op == "join":
                    core.enter_room(socket, message["room"])
                elif op == "leave":
                    core.leave_room(socket, message["room"])
                else:
                    core.disconnect(socket)
        elif op == "close":
            core.close_room(nsp, message["room"])
        elif op == "fetch":
            origin = message["reply"]
            found = _describe(core.adapter.select(nsp, message["rooms"], message["except"]))
            reply(self._message("sockets", to=origin["node"], id=origin["id"], sockets=found))
        return None

    @staticmethod
    def _local(core: SocketIOCore, nsp: str, sids: Iterable[str]) -> list[Socket]:
        found = []
        for sid in sids:
            socket = core.sockets.get(sid)
            if socket is not None and socket.nsp == nsp:
                found.append(socket)
        return found


class Query:
    """A cluster-wide query: the sockets found so far, and the nodes still to answer."""

    __slots__ = ("done", "id", "sockets", "waiting")

    def __init__(self, query_id: int, waiting: set[str], done: Callable[[Query], None]) -> None:
        self.id = query_id
        self.waiting = waiting
        self.done = done
        self.sockets: list[dict[str, Any]] = []


def _describe(sockets: Iterable[Socket]) -> list[dict[str, Any]]:
    return [
        {"sid": socket.sid, "nsp": socket.nsp, "rooms": sorted(socket.rooms)}
        for socket in sockets
        if socket.connected
    ]


class _Relay:
    """An ack callback that forwards the client's answer to the node that asked. The
    runtime recognises it and calls it directly instead of as a user handler."""

    __slots__ = ("answer",)

    def __init__(self, answer: Callable[..., None]) -> None:
        self.answer = answer

    def __call__(self, *args: Any) -> None:
        self.answer(*args)
