"""The Socket.IO v5 server, sans I/O.

Theory of operation
-------------------
:class:`SocketIOCore` listens to an :class:`~socketwire.engineio.core.EngineCore` (it is its
``listener``) and turns Engine.IO messages into Socket.IO happenings, which it appends to
``events`` for the runtime to act on. It never calls user code:

* :class:`ConnectRequest`: a client asked to join a namespace. The runtime runs the
  ``connect`` handler and answers :meth:`SocketIOCore.accept` or :meth:`SocketIOCore.refuse`.
  Until then the socket is *connecting*: packets emitted to it wait, so they reach the client
  after the CONNECT acknowledgement, as in Node's socket.io.
* :class:`EventReceived`: run the handler; if ``ack_id`` is set, answer with :meth:`ack`.
* :class:`AckReceived`: the client acknowledged an emit; ``callback`` is what the runtime
  stored with :meth:`emit`.
* :class:`Disconnected`: a socket left (client, server, transport); run ``disconnect``,
  then call :meth:`SocketIOCore.forget`. Until then the sid, its session and its rooms can
  still be read and changed, but nothing is sent to it.

Output goes through the Engine.IO core (``engine.take_dirty()``). Broadcasts are encoded once
and the same :class:`OutPacket` objects are queued for every recipient.

Client states per namespace: connecting -> connected -> disconnected.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from .._timers import Timer
from ..adapter import MemoryAdapter
from ..engineio.core import DisconnectReason, EngineCore, Session
from ..engineio.packet import OutPacket
from ..exceptions import ProtocolError
from . import packet as sio
from .packet import PacketType

__all__ = [
    "AckReceived",
    "ConnectRequest",
    "Disconnected",
    "EventReceived",
    "Socket",
    "SocketIOCore",
]


class SocketState(enum.IntEnum):
    CONNECTING = 1
    CONNECTED = 2
    DISCONNECTED = 3


# Module-level aliases for the hot paths: reading an enum member costs ~100 ns on 3.11.
CONNECTING, CONNECTED, DISCONNECTED = (
    SocketState.CONNECTING,
    SocketState.CONNECTED,
    SocketState.DISCONNECTED,
)


class Client:
    """The Socket.IO side of one Engine.IO session: its namespace sockets and a packet
    whose binary attachments are still arriving."""

    __slots__ = ("connect_timer", "pending", "session", "sockets")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sockets: dict[str, Socket] = {}
        self.pending: sio.Packet | None = None
        self.connect_timer: Timer | None = None


class Socket:
    """One client connected to one namespace (``sid`` is the Socket.IO session id)."""

    __slots__ = (
        "acks",
        "auth",
        "client",
        "held",
        "last_ack_id",
        "nsp",
        "rooms",
        "session",
        "sid",
        "state",
    )

    def __init__(self, client: Client, nsp: str, auth: Any) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.client = client
        self.nsp = nsp
        self.auth = auth
        self.state = CONNECTING
        #: the rooms it is in, in the order it joined them (a dict keeps it; python-socketio
        #: lists a client's own sid room first)
        self.rooms: dict[str, None] = {}
        self.acks: dict[int, Any] = {}
        self.last_ack_id = -1
        #: packets emitted while the connect handler runs
        self.held: list[OutPacket] = []
        #: the user session (``save_session`` / ``get_session``)
        self.session: dict[str, Any] = {}

    @property
    def eio_sid(self) -> str:
        return self.client.session.sid

    @property
    def connected(self) -> bool:
        return self.state is CONNECTED

    def __repr__(self) -> str:
        return f"<Socket {self.sid} {self.nsp} {self.state.name}>"


class ConnectRequest:
    __slots__ = ("auth", "socket")

    def __init__(self, socket: Socket, auth: Any) -> None:
        self.socket = socket
        self.auth = auth


class EventReceived:
    __slots__ = ("ack_id", "args", "name", "socket")

    def __init__(self, socket: Socket, name: str, args: list[Any], ack_id: int | None) -> None:
        self.socket = socket
        self.name = name
        self.args = args
        self.ack_id = ack_id


class AckReceived:
    __slots__ = ("args", "callback", "socket")

    def __init__(self, socket: Socket, callback: Any, args: list[Any]) -> None:
        self.socket = socket
        self.callback = callback
        self.args = args


class Disconnected:
    __slots__ = ("reason", "socket")

    def __init__(self, socket: Socket, reason: str) -> None:
        self.socket = socket
        self.reason = reason


Event = ConnectRequest | EventReceived | AckReceived | Disconnected


def to_packets(text: str, attachments: list[bytes]) -> list[OutPacket]:
    """Engine.IO packets for an encoded Socket.IO packet."""
    packets = [OutPacket("4" + text)]
    for blob in attachments:
        packets.append(OutPacket(blob))
    return packets


class SocketIOCore:
    """Namespaces, sockets, rooms and acknowledgements (see the module docstring)."""

    def __init__(
        self,
        *,
        namespace_allowed: Callable[[str], bool],
        connect_timeout: float = 45,
        max_attachments: int = 10,
        adapter: MemoryAdapter | None = None,
        logger: Any = None,
        json: Any = None,
        **engine_options: Any,
    ) -> None:
        self.engine = EngineCore(
            self, logger=engine_options.pop("engineio_logger", logger), **engine_options
        )
        self.namespace_allowed = namespace_allowed
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        #: the JSON module for event and ack payloads (None: orjson); see ``sio.encode``
        self.json = json
        self.adapter = adapter or MemoryAdapter()
        self.logger = logger
        self.sockets: dict[str, Socket] = {}
        self.events: list[Event] = []

    def take_events(self) -> list[Event]:
        events = self.events
        self.events = []
        return events

    # ------------------------------------------------------------ Engine.IO listener

    def on_open(self, session: Session) -> None:
        client = Client(session)
        session.data = client
        client.connect_timer = self.engine.timers.schedule(
            self.engine.now + self.connect_timeout, "sio-connect", client
        )

    def on_close(self, session: Session, reason: DisconnectReason) -> None:
        client: Client = session.data
        if client is None:
            return
        if client.connect_timer is not None:
            client.connect_timer.cancel()
            client.connect_timer = None
        client.pending = None
        for socket in list(client.sockets.values()):
            self._remove(socket, str(reason))

    def on_timer(self, timer: Timer) -> None:
        client: Client = timer.target
        if timer is client.connect_timer:
            client.connect_timer = None
            if not client.sockets:
                if self.logger:
                    self.logger.info("no Socket.IO CONNECT from %s in time", client.session.sid)
                self.engine.close(client.session, DisconnectReason.TRANSPORT_ERROR)

    def on_message(self, session: Session, data: str | bytes) -> None:
        client: Client = session.data
        try:
            if isinstance(data, str):
                if client.pending is not None:
                    raise ProtocolError("text packet while binary attachments were awaited")
                packet = sio.decode(data, self.max_attachments, self.json)
                if packet.attachments:
                    client.pending = packet
                    return
            else:
                packet_or_none = client.pending
                if packet_or_none is None:
                    raise ProtocolError("unexpected binary message")
                if not packet_or_none.add_attachment(data):
                    return
                packet = packet_or_none
                client.pending = None
            self._dispatch(client, packet)
        except ProtocolError as exc:
            if self.logger:
                self.logger.warning("closing connection %s: %s", session.sid, exc)
            self.engine.close(session, DisconnectReason.TRANSPORT_ERROR, send_close=False)
        except Exception as exc:
            # Whatever one client's bytes make fail (a decoder's RecursionError, a JSON
            # module's odd exception) ends that client alone, never the shared flush.
            if self.logger:
                self.logger.warning(
                    "closing connection %s: its packet raised %r", session.sid, exc, exc_info=exc
                )
            self.engine.close(session, DisconnectReason.TRANSPORT_ERROR, send_close=False)

    def _dispatch(self, client: Client, packet: sio.Packet) -> None:
        type_ = packet.type
        nsp = packet.nsp
        if type_ == sio.EVENT or type_ == sio.BINARY_EVENT:
            socket = client.sockets.get(nsp)
            if socket is None or socket.state is not CONNECTED:
                self._ignored(client, packet)
                return
            data = packet.data
            self.events.append(EventReceived(socket, data[0], data[1:], packet.id))
        elif type_ == sio.ACK or type_ == sio.BINARY_ACK:
            socket = client.sockets.get(nsp)
            if socket is None:
                self._ignored(client, packet)
                return
            callback = socket.acks.pop(packet.id, None)  # type: ignore[arg-type]
            if callback is not None:
                self.events.append(AckReceived(socket, callback, packet.data))
        elif type_ == sio.CONNECT:
            self._connect(client, nsp, packet.data)
        elif type_ == sio.DISCONNECT:
            socket = client.sockets.get(nsp)
            if socket is not None:
                self._remove(socket, DisconnectReason.CLIENT_DISCONNECT.value)

    def _ignored(self, client: Client, packet: sio.Packet) -> None:
        if self.logger:
            self.logger.info(
                "ignoring %s for namespace %s not connected on %s",
                PacketType(packet.type).name,
                packet.nsp,
                client.session.sid,
            )

    def _connect(self, client: Client, nsp: str, auth: Any) -> None:
        if nsp in client.sockets:
            self._ignored(client, sio.Packet(sio.CONNECT, nsp))
            return
        if client.connect_timer is not None:
            client.connect_timer.cancel()
            client.connect_timer = None
        if not self.namespace_allowed(nsp):
            text, _ = sio.encode(sio.CONNECT_ERROR, nsp, {"message": "Invalid namespace"})
            self.engine.send(client.session, OutPacket("4" + text))
            return
        socket = Socket(client, nsp, auth)
        client.sockets[nsp] = socket
        self.sockets[socket.sid] = socket
        self.adapter.add(socket)
        self.events.append(ConnectRequest(socket, auth))

    # ------------------------------------------------------------ connection outcome

    def accept(self, socket: Socket) -> None:
        """The connect handler accepted: send CONNECT, then what it emitted meanwhile."""
        if socket.state is not CONNECTING:
            return
        socket.state = CONNECTED
        text, _ = sio.encode(sio.CONNECT, socket.nsp, {"sid": socket.sid})
        session = socket.client.session
        self.engine.send(session, OutPacket("4" + text))
        held, socket.held = socket.held, []
        for packet in held:
            self.engine.send(session, packet)

    def refuse(self, socket: Socket, error: dict[str, Any]) -> None:
        """The connect handler refused: send CONNECT_ERROR ``error``; no disconnect event."""
        if socket.state is not CONNECTING:
            return
        text, _ = sio.encode(sio.CONNECT_ERROR, socket.nsp, error)
        self.engine.send(socket.client.session, OutPacket("4" + text))
        self._remove(socket, None)

    def disconnect(self, socket: Socket, *, silent: bool = False) -> None:
        """Server-side disconnect of one namespace: the client gets DISCONNECT and the
        runtime a :class:`Disconnected` 'server disconnect' (none when ``silent``). A
        socket still connecting (disconnected from its own connect handler) is refused."""
        if socket.state is DISCONNECTED:
            return
        if socket.state is CONNECTING:
            self.refuse(socket, {"message": "Connection rejected by server"})
            return
        if socket.state is CONNECTED:
            text, _ = sio.encode(sio.DISCONNECT, socket.nsp)
            self.engine.send(socket.client.session, OutPacket("4" + text))
        self._remove(socket, None if silent else DisconnectReason.SERVER_DISCONNECT.value)

    def _remove(self, socket: Socket, reason: str | None) -> None:
        if socket.state is DISCONNECTED:
            return
        was_connected = socket.state is CONNECTED
        socket.state = DISCONNECTED
        socket.held = []
        client = socket.client
        if client.sockets.get(socket.nsp) is socket:
            del client.sockets[socket.nsp]
        if reason is not None and was_connected:
            # Its sid, session and rooms stay reachable until the runtime has run the
            # ``disconnect`` handler and calls :meth:`forget` (python-socketio does the same).
            self.events.append(Disconnected(socket, reason))
        else:
            self.forget(socket)

    def forget(self, socket: Socket) -> None:
        """Drop a disconnected socket for good: its sid, session and room memberships."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
        self.adapter.remove(socket)

    # ------------------------------------------------------------ output

    def _deliver(self, sockets: Iterable[Socket], packets: list[OutPacket]) -> int:
        sessions = []
        for socket in sockets:
            state = socket.state
            if state is CONNECTED:
                sessions.append(socket.client.session)
            elif state is CONNECTING:
                socket.held.extend(packets)
        self.engine.send_many(sessions, packets)
        return len(sessions)

    def emit(
        self,
        nsp: str,
        args: list[Any],
        rooms: Iterable[str] | None,
        skip: Iterable[str] | None = None,
        callback: Any = None,
    ) -> int:
        """Emit EVENT ``args`` (event name first) to the sockets of ``nsp`` in ``rooms`` (all
        when None), except those in ``skip``. With ``callback``, each recipient gets its own
        ack id and the callback is handed back in :class:`AckReceived`. Returns the number of
        recipients."""
        targets = self.adapter.select(nsp, rooms, skip)
        if callback is None:
            if not targets:
                return 0
            text, attachments = sio.encode(sio.EVENT, nsp, args, json=self.json)
            return self._deliver(targets, to_packets(text, attachments))
        for socket in targets:
            ack_id = socket.last_ack_id = socket.last_ack_id + 1
            socket.acks[ack_id] = callback
            text, attachments = sio.encode(sio.EVENT, nsp, args, ack_id, self.json)
            self._deliver((socket,), to_packets(text, attachments))
        return len(targets)

    def forget_ack(self, socket: Socket, callback: Any) -> None:
        """Drop a pending acknowledgement (its caller gave up waiting)."""
        for ack_id, stored in list(socket.acks.items()):
            if stored is callback:
                del socket.acks[ack_id]

    def ack(self, socket: Socket, ack_id: int, args: list[Any]) -> None:
        """Answer the client's ack request ``ack_id`` with ``args``."""
        if socket.state is not CONNECTED:
            return
        text, attachments = sio.encode(sio.ACK, socket.nsp, args, ack_id, self.json)
        if attachments:
            self.engine.send_many((socket.client.session,), to_packets(text, attachments))
        else:
            self.engine.send(socket.client.session, OutPacket("4" + text))

    # ------------------------------------------------------------ rooms

    def enter_room(self, socket: Socket, room: str) -> None:
        self.adapter.join(socket, room)

    def leave_room(self, socket: Socket, room: str) -> None:
        self.adapter.leave(socket, room)

    def close_room(self, nsp: str, room: str) -> None:
        for socket in self.adapter.room_members(nsp, room):
            self.adapter.leave(socket, room)

    # ------------------------------------------------------------ operations on a selection
    # Node's ``io.in(rooms).except(skip).socketsJoin/socketsLeave/disconnectSockets`` and a
    # broadcast awaiting every recipient's ack; ``rooms`` None selects the whole namespace.

    def _selected(
        self, nsp: str, rooms: Iterable[str] | None, skip: Iterable[str] | None
    ) -> list[Socket]:
        return [s for s in self.adapter.select(nsp, rooms, skip) if s.state is not DISCONNECTED]

    def sockets_join(
        self, nsp: str, rooms: Iterable[str] | None, skip: Iterable[str] | None, names: list[str]
    ) -> int:
        """The selected sockets enter every room of ``names``; returns how many there were."""
        selected = self._selected(nsp, rooms, skip)
        for socket in selected:
            for name in names:
                self.adapter.join(socket, name)
        return len(selected)

    def sockets_leave(
        self, nsp: str, rooms: Iterable[str] | None, skip: Iterable[str] | None, names: list[str]
    ) -> int:
        """The selected sockets leave every room of ``names``; returns how many there were."""
        selected = self._selected(nsp, rooms, skip)
        for socket in selected:
            for name in names:
                self.adapter.leave(socket, name)
        return len(selected)

    def disconnect_sockets(
        self, nsp: str, rooms: Iterable[str] | None, skip: Iterable[str] | None, close: bool
    ) -> int:
        """Disconnect the selected sockets (as :meth:`disconnect`); with ``close``, also end
        their Engine.IO sessions, which disconnects their clients from every namespace.
        Returns how many sockets were selected."""
        selected = self._selected(nsp, rooms, skip)
        for socket in selected:
            self.disconnect(socket)
        if close:
            sessions = {id(s.client.session): s.client.session for s in selected}
            for session in sessions.values():
                self.engine.close(session, DisconnectReason.SERVER_DISCONNECT)
        return len(selected)

    def emit_awaiting(
        self,
        nsp: str,
        args: list[Any],
        rooms: Iterable[str] | None,
        skip: Iterable[str] | None,
        callback: Any,
    ) -> list[Socket]:
        """Emit as :meth:`emit` with ``callback``, but only to *connected* sockets (one whose
        connect handler may still refuse it is not a recipient that can be awaited); returns
        the recipients."""
        targets = [s for s in self.adapter.select(nsp, rooms, skip) if s.state is CONNECTED]
        for socket in targets:
            ack_id = socket.last_ack_id = socket.last_ack_id + 1
            socket.acks[ack_id] = callback
            text, attachments = sio.encode(sio.EVENT, nsp, args, ack_id, self.json)
            self._deliver((socket,), to_packets(text, attachments))
        return targets
