"""The cluster protocol, sans I/O: what nodes of one application tell each other through a
message queue, and what a node does with what it hears.

Every operation that may concern clients of other nodes becomes one message (msgpack map):

======== =================================================== ============================
op       fields                                              effect on each other node
======== =================================================== ============================
emit     nsp, rooms (None: all), except, packet [text, [bin]] deliver the pre-encoded packet
                                                             to its local matches
call     nsp, rooms, except, args, reply {node, id}          emit ``args`` with a local ack
                                                             id; the ack goes back as ``ack``
ack      to (node), id, args                                 only node ``to``: run the
                                                             callback registered as ``id``
join     nsp, rooms, except, names (v2)                      local matches enter ``names``
leave    nsp, rooms, except, names (v2)                      ... leave ``names``
close    nsp, room                                           everyone leaves ``room``
kick     nsp, rooms, except, close (v2)                      disconnect local matches (and
                                                             close their connections)
fetch    nsp, rooms, except, reply {node, id}                answer ``sockets`` with its
                                                             local matches
sockets  to (node), id, sockets [{sid, nsp, rooms}]          only node ``to``: collect
gather   nsp, rooms, except, args, reply {node, id} (v2)     emit ``args`` to its connected
                                                             matches, answer ``gathered``
                                                             with their count, then one
                                                             ``gathered`` per ack or loss
gathered to (node), id, count (None or n), answers           only node ``to``: add to the
         [[args]...], gone (n) (v2)                          broadcast awaiting acks ``id``
hello    answer (bool)                                       note the sender alive (and
                                                             say hello back if asked)
======== =================================================== ============================

"Local matches" are a node's sockets of ``nsp`` in any of ``rooms`` (every socket of ``nsp``
when None) and in none of ``except``: the selector of a broadcast. A sid names the room of
its socket, so one client is selected as ``rooms=[sid]``.

Versions. ``v`` is the version of each message's *format*, and a node sends every message in
the oldest version that expresses it: version 1 for the ops that have not changed, version 2
for ``gather``/``gathered`` and for ``join``/``leave``/``kick``, which version 1 wrote with a
list of ``sids`` and one ``room`` and version 2 with a selector. A node of version 1 refuses
(and logs) what it cannot read instead of misreading it, and still hears the rest during a
rolling upgrade; this version reads both, turning a version-1 ``join``/``leave``/``kick``
into its selector form.

Nodes say ``hello`` when they start and every :data:`HEARTBEAT` seconds, so each knows which
others are alive: a cluster-wide query (``fetch``) or broadcast awaiting acks (``gather``)
waits for exactly those, or its timeout. A node that started a moment ago and has not said
``hello`` yet is not waited for (a ``gather`` counts its clients only if its count arrives
before the rest is complete).

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

from .base import callback_result
from .exceptions import ProtocolError
from .socketio import packet as sio
from .socketio.core import Socket, SocketIOCore, to_packets
from .socketio.packet import PacketType

__all__ = [
    "VERSION",
    "ClusterMessageError",
    "ClusterNode",
    "Gathering",
    "Recipient",
    "decode",
    "encode",
]

#: the newest message format; :data:`VERSIONS` are those a node reads
VERSION = 2
VERSIONS = (1, 2)
#: the ops whose format is version 2 (every other op is sent as version 1)
V2_OPS = frozenset({"join", "leave", "kick", "gather", "gathered"})
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


def _count(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ClusterMessageError(f"{field} must be a non-negative integer")
    return value


def _reply(message: dict[str, Any]) -> None:
    reply = message.get("reply")
    if (
        not isinstance(reply, dict)
        or not isinstance(reply.get("node"), str)
        or not isinstance(reply.get("id"), int)
    ):
        raise ClusterMessageError("reply must be {node, id}")


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
    version = message.get("v")
    if type(version) is not int or version not in VERSIONS:
        raise ClusterMessageError(f"unsupported version {version!r}")
    if message.get("ch") != channel:
        raise ClusterMessageError(f"message of channel {message.get('ch')!r}")
    _str(message.get("node"), "node")
    op = message.get("op")
    if version == 1 and op in ("gather", "gathered"):
        raise ClusterMessageError(f"op {op!r} needs version 2")
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
    if op == "gathered":
        _str(message.get("to"), "to")
        if not isinstance(message.get("id"), int):
            raise ClusterMessageError("id must be an integer")
        if message.get("count") is not None:
            _count(message.get("count"), "count")
        _count(message.get("gone"), "gone")
        answers = message.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, list) for a in answers):
            raise ClusterMessageError("answers must be a list of lists")
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
    if op in ("join", "leave", "kick") and version == 1:
        # version 1 named the sockets by sid: the same as a selector of their sid rooms
        sids = _str_list(message.get("sids"), "sids")
        message = {**message, "rooms": sids, "except": []}
        if op == "kick":
            message["close"] = False
        else:
            message["names"] = [_str(message.get("room"), "room")]
    if op in ("emit", "call", "fetch", "gather", "join", "leave", "kick"):
        if "rooms" not in message:  # None means every socket: it must be said, not implied
            raise ClusterMessageError("rooms is missing")
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
        elif op == "join" or op == "leave":
            _str_list(message.get("names"), "names")
        elif op == "kick":
            if not isinstance(message.get("close"), bool):
                raise ClusterMessageError("close must be a boolean")
        else:
            if op == "call" or op == "gather":
                args = message.get("args")
                if not isinstance(args, list) or not args or not isinstance(args[0], str):
                    raise ClusterMessageError("args must be [event, ...]")
            _reply(message)
    elif op == "close":
        _str(message.get("room"), "room")
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
        #: broadcasts awaiting acks from other nodes: id -> Gathering
        self.gatherings: dict[int, Gathering] = {}

    def _message(self, op: str, **fields: Any) -> dict[str, Any]:
        version = 2 if op in V2_OPS else 1  # the oldest format that says it (module doc)
        return {"v": version, "ch": self.channel, "node": self.node_id, "op": op, **fields}

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

    def join(
        self, nsp: str, rooms: list[str] | None, skip: list[str] | None, names: list[str]
    ) -> dict[str, Any]:
        """The sockets of ``nsp`` in ``rooms`` (all when None), less ``skip``, enter the
        rooms ``names`` (one client: ``rooms=[sid]``)."""
        return self._message("join", nsp=nsp, rooms=rooms, names=names, **{"except": skip or []})

    def leave(
        self, nsp: str, rooms: list[str] | None, skip: list[str] | None, names: list[str]
    ) -> dict[str, Any]:
        """... leave the rooms ``names``."""
        return self._message("leave", nsp=nsp, rooms=rooms, names=names, **{"except": skip or []})

    def close_room(self, nsp: str, room: str) -> dict[str, Any]:
        return self._message("close", nsp=nsp, room=room)

    def kick(
        self, nsp: str, rooms: list[str] | None, skip: list[str] | None, close: bool = False
    ) -> dict[str, Any]:
        """... are disconnected (with ``close``, their whole connections are closed)."""
        return self._message("kick", nsp=nsp, rooms=rooms, close=close, **{"except": skip or []})

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

    def gather(
        self,
        gathering: Gathering,
        nsp: str,
        args: list[Any],
        rooms: list[str] | None,
        skip: list[str] | None,
        now: float,
    ) -> dict[str, Any] | None:
        """Extend ``gathering`` (a broadcast awaiting every recipient's ack) to the other
        nodes: it waits for the count of each alive node. Returns the message to publish,
        or None when no other node is alive."""
        peers = self.alive_peers(now)
        if not peers:
            return None
        gathering.id = next(self._ids)
        gathering.waiting = peers
        gathering.node = self
        self.gatherings[gathering.id] = gathering
        return self._message(
            "gather",
            nsp=nsp,
            rooms=rooms,
            args=args,
            reply={"node": self.node_id, "id": gathering.id},
            **{"except": skip or []},
        )

    def _gathered(
        self, to: str, gathering_id: int, count: int | None, answers: list[Any], gone: int
    ) -> dict[str, Any]:
        return self._message(
            "gathered", to=to, id=gathering_id, count=count, answers=answers, gone=gone
        )

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
        if op == "gathered":
            if message["to"] == self.node_id:
                gathering = self.gatherings.get(message["id"])
                if gathering is not None:
                    gathering.heard(sender, message["count"], message["answers"], message["gone"])
            return None
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
        elif op == "join":
            core.sockets_join(nsp, message["rooms"], message["except"], message["names"])
        elif op == "leave":
            core.sockets_leave(nsp, message["rooms"], message["except"], message["names"])
        elif op == "kick":
            core.disconnect_sockets(nsp, message["rooms"], message["except"], message["close"])
        elif op == "gather":
            self._gather_here(core, message, reply)
        elif op == "close":
            core.close_room(nsp, message["room"])
        elif op == "fetch":
            origin = message["reply"]
            found = _describe(core.adapter.select(nsp, message["rooms"], message["except"]))
            reply(self._message("sockets", to=origin["node"], id=origin["id"], sockets=found))
        return None

    def _gather_here(
        self,
        core: SocketIOCore,
        message: dict[str, Any],
        reply: Callable[[dict[str, Any]], None],
    ) -> None:
        """Another node's ``gather``: emit to our connected matches, tell it how many they
        are, then relay each answer (or loss) as it comes. The count goes out first, so the
        asker (which hears each node's messages in order) knows it before any answer."""
        asker, gathering_id = message["reply"]["node"], message["reply"]["id"]

        def answered(args: list[Any]) -> None:
            reply(self._gathered(asker, gathering_id, None, [args], 0))

        def lost() -> None:
            reply(self._gathered(asker, gathering_id, None, [], 1))

        sockets = core.emit_awaiting(
            message["nsp"],
            message["args"],
            message["rooms"],
            message["except"],
            Recipient(answered, lost),
        )
        reply(self._gathered(asker, gathering_id, len(sockets), [], 0))


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


class Gathering:
    """A broadcast awaiting one acknowledgement per recipient, on this node and on the
    alive other nodes (``waiting`` until each says how many recipients it has).

    It is complete when every node has counted and every recipient has either answered or
    disconnected (a client that is gone can never answer: it is no longer awaited, and
    ``responses`` holds one entry fewer). ``done(gathering)`` is then called once.
    ``responses`` are in arrival order, each as :func:`socketwire.base.callback_result`
    makes of one client's ack arguments."""

    __slots__ = (
        "done",
        "expected",
        "finished",
        "gone",
        "id",
        "node",
        "recipient",
        "responses",
        "sockets",
        "started",
        "waiting",
    )

    def __init__(self, done: Callable[[Gathering], None]) -> None:
        self.done = done
        self.id = 0
        #: other nodes that have not said how many recipients they have
        self.waiting: set[str] = set()
        self.node: ClusterNode | None = None
        #: recipients counted so far, on every node
        self.expected = 0
        #: recipients that disconnected without answering
        self.gone = 0
        self.responses: list[Any] = []
        self.finished = False
        self.started = False
        #: the local recipients and the ack callback they hold (to forget on abandon)
        self.sockets: list[Socket] = []
        self.recipient: Recipient | None = None

    def start(self, local: list[Socket], recipient: Recipient) -> None:
        """The broadcast went out here, to ``local``; from now on it can complete."""
        self.sockets = local
        self.recipient = recipient
        self.expected += len(local)
        self.started = True
        self._check()

    def answered(self, args: list[Any]) -> None:
        if not self.finished:
            self.responses.append(callback_result(args))
            self._check()

    def lost(self, count: int = 1) -> None:
        if not self.finished:
            self.gone += count
            self._check()

    def heard(self, node: str, count: int | None, answers: list[Any], gone: int) -> None:
        """A ``gathered`` message of ``node``."""
        if self.finished:
            return
        if count is not None:
            self.waiting.discard(node)
            self.expected += count
        for args in answers:
            self.responses.append(callback_result(args))
        self.gone += gone
        self._check()

    def finish(self) -> None:
        """Stop collecting (complete, or its caller gave up)."""
        self.finished = True
        if self.node is not None:
            self.node.gatherings.pop(self.id, None)

    def _check(self) -> None:
        if (
            self.started
            and not self.finished
            and not self.waiting
            and len(self.responses) + self.gone >= self.expected
        ):
            self.finish()
            self.done(self)

    def describe(self) -> str:
        """What is missing, for a timeout's message."""
        text = f"{len(self.responses)} of {self.expected} recipient(s) answered"
        if self.waiting:
            text += f"; node(s) that never counted theirs: {sorted(self.waiting)}"
        return text


class Recipient:
    """The ack callback a :class:`Gathering` leaves with each recipient: ``answered(args)``
    when the client acknowledges, ``lost()`` when it disconnects first (the runtime calls
    :meth:`gone` for the callbacks of this type still pending on a socket it removes)."""

    __slots__ = ("answered", "lost")

    def __init__(self, answered: Callable[[list[Any]], None], lost: Callable[[], None]) -> None:
        self.answered = answered
        self.lost = lost

    def __call__(self, *args: Any) -> None:
        self.answered(list(args))

    def gone(self) -> None:
        self.lost()


class _Relay:
    """An ack callback that forwards the client's answer to the node that asked. The
    runtime recognises it and calls it directly instead of as a user handler."""

    __slots__ = ("answer",)

    def __init__(self, answer: Callable[..., None]) -> None:
        self.answer = answer

    def __call__(self, *args: Any) -> None:
        self.answer(*args)
