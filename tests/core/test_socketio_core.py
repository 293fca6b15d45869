"""The Socket.IO core on top of the Engine.IO core, without I/O."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import request

from socketwire.engineio.core import DisconnectReason, Session, WebSocketAccept
from socketwire.socketio.core import (
    AckReceived,
    ConnectRequest,
    Disconnected,
    EventReceived,
    Socket,
    SocketIOCore,
)

WS = {"upgrade": "websocket"}


def make(**options: Any) -> SocketIOCore:
    options.setdefault("ping_interval", 25)
    options.setdefault("ping_timeout", 20)
    return SocketIOCore(namespace_allowed=lambda nsp: nsp in ("/", "/chat"), **options)


def open_client(core: SocketIOCore, now: float = 0.0) -> Session:
    result = core.engine.handle_request(
        request(headers=WS, EIO="4", transport="websocket"), b"", now
    )
    assert isinstance(result, WebSocketAccept)
    session = result.session
    session.ws = object()
    wire(core, session)  # drop the open packet
    return session


def wire(core: SocketIOCore, session: Session) -> list[str | bytes]:
    return [p.data for p in core.engine.take_ws_output(session)]


def feed(core: SocketIOCore, session: Session, *messages: str | bytes, now: float = 0.1) -> None:
    for message in messages:
        core.engine.receive_ws(session, session.ws, message, now)


def connect(core: SocketIOCore, session: Session, nsp: str = "/") -> Socket:
    feed(core, session, "40" if nsp == "/" else f"40{nsp},")
    (event,) = core.take_events()
    assert isinstance(event, ConnectRequest)
    core.accept(event.socket)
    wire(core, session)
    return event.socket


def test_connect_is_held_until_accepted_and_emits_wait() -> None:
    core = make()
    session = open_client(core)
    feed(core, session, '40{"token":"abc"}')
    (event,) = core.take_events()
    assert isinstance(event, ConnectRequest) and event.auth == {"token": "abc"}
    socket = event.socket
    # emitted during the connect handler: must follow the CONNECT ack
    core.emit("/", ["welcome", 1], [socket.sid])
    assert wire(core, session) == []
    core.accept(socket)
    assert wire(core, session) == [f'40{{"sid":"{socket.sid}"}}', '42["welcome",1]']


def test_refuse_sends_connect_error_and_no_disconnect_event() -> None:
    core = make()
    session = open_client(core)
    feed(core, session, "40/chat,")
    (event,) = core.take_events()
    core.emit("/chat", ["held"], [event.socket.sid])
    core.refuse(event.socket, {"message": "nope", "data": {"why": 1}})
    assert wire(core, session) == ['44/chat,{"message":"nope","data":{"why":1}}']
    assert core.take_events() == []
    assert event.socket.sid not in core.sockets


def test_unknown_namespace() -> None:
    core = make()
    session = open_client(core)
    feed(core, session, "40/random,")
    assert wire(core, session) == ['44/random,{"message":"Invalid namespace"}']
    assert core.take_events() == []


def test_events_and_acks_from_client() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    feed(core, session, '42["chat","hi"]', '4212["ask",1]')
    first, second = core.take_events()
    assert isinstance(first, EventReceived) and (first.name, first.args, first.ack_id) == (
        "chat",
        ["hi"],
        None,
    )
    assert isinstance(second, EventReceived) and second.ack_id == 12
    core.ack(socket, 12, ["answer", b"\x01"])
    assert wire(core, session) == ['461-12["answer",{"_placeholder":true,"num":0}]', b"\x01"]


def test_server_ack_callbacks_round_trip() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    callback = object()
    assert core.emit("/", ["question"], [socket.sid], callback=callback) == 1
    assert wire(core, session) == ['420["question"]']
    feed(core, session, '430["yes",2]')
    (event,) = core.take_events()
    assert isinstance(event, AckReceived)
    assert (event.callback, event.args) == (callback, ["yes", 2])
    feed(core, session, '430["again"]')  # a second ack for the same id is ignored
    assert core.take_events() == []


def test_binary_event_from_client_in_parts() -> None:
    core = make()
    session = open_client(core)
    connect(core, session)
    feed(core, session, '452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    assert core.take_events() == []
    feed(core, session, b"\x01")
    assert core.take_events() == []
    feed(core, session, b"\x02")
    (event,) = core.take_events()
    assert isinstance(event, EventReceived) and event.args == [b"\x01", b"\x02"]


@pytest.mark.parametrize(
    "messages",
    [
        ["4abc"],
        ["42{}"],
        ['42abc["x"]'],
        ['42["disconnect"]'],
        ['4511-["x"]'],
        ['451-["x",{"_placeholder":true,"num":3}]'],
        [b"\x00"],  # binary with no packet awaiting it
        ['451-["x",{"_placeholder":true,"num":0}]', '42["x"]'],  # text while awaiting binary
        ['44{"message":"x"}'],
    ],
)
def test_malformed_input_closes_only_that_client(messages: list[str | bytes]) -> None:
    core = make()
    bad = open_client(core)
    good = open_client(core)
    connect(core, bad)
    good_socket = connect(core, good)
    feed(core, bad, *messages)
    assert bad.closed and bad.close_reason is DisconnectReason.TRANSPORT_ERROR
    events = core.take_events()
    assert [type(e) for e in events] == [Disconnected]
    core.emit("/", ["still", "here"], None)
    assert wire(core, good) == ['42["still","here"]']
    assert good_socket.connected


def test_broadcast_rooms_and_skip_encode_once() -> None:
    core = make()
    sessions = [open_client(core) for _ in range(4)]
    sockets = [connect(core, s) for s in sessions]
    for socket in sockets[:3]:
        core.enter_room(socket, "room")
    assert core.emit("/", ["news", b"\x07"], ["room"], skip=[sockets[0].sid]) == 2
    outboxes = [s.outbox for s in sessions]
    assert outboxes[0] == [] and outboxes[3] == []
    assert outboxes[1][0] is outboxes[2][0] and outboxes[1][1] is outboxes[2][1]
    assert [p.data for p in outboxes[1]] == ['451-["news",{"_placeholder":true,"num":0}]', b"\x07"]
    core.close_room("/", "room")
    assert core.emit("/", ["news"], ["room"]) == 0


def test_skip_accepts_rooms_like_node_except() -> None:
    core = make()
    sessions = [open_client(core) for _ in range(3)]
    sockets = [connect(core, s) for s in sessions]
    core.enter_room(sockets[0], "muted")
    assert core.emit("/", ["x"], None, skip=["muted"]) == 2


def test_namespaces_are_independent_on_one_connection() -> None:
    core = make()
    session = open_client(core)
    main = connect(core, session)
    chat = connect(core, session, "/chat")
    assert main.sid != chat.sid
    core.emit("/chat", ["hi"], None)
    assert wire(core, session) == ['42/chat,["hi"]']
    feed(core, session, "41/chat,")
    (event,) = core.take_events()
    assert isinstance(event, Disconnected) and event.socket is chat
    assert event.reason == "client disconnect"
    assert main.connected and not session.closed


def test_server_disconnect() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    core.disconnect(socket)
    assert wire(core, session) == ["41"]
    (event,) = core.take_events()
    assert isinstance(event, Disconnected) and event.reason == "server disconnect"


def test_transport_close_disconnects_every_namespace() -> None:
    core = make()
    session = open_client(core)
    connect(core, session)
    connect(core, session, "/chat")
    core.engine.ws_closed(session, session.ws)
    events = core.take_events()
    assert sorted(e.socket.nsp for e in events) == ["/", "/chat"]
    assert {e.reason for e in events} == {"transport close"}  # type: ignore[union-attr]


def test_connect_timeout() -> None:
    core = make(connect_timeout=1.0)
    session = open_client(core, now=0.0)
    core.engine.handle_timer(0.99)
    assert not session.closed
    core.engine.handle_timer(1.0)
    assert session.closed


def test_connect_timeout_cancelled_by_connect() -> None:
    core = make(connect_timeout=1.0)
    session = open_client(core, now=0.0)
    connect(core, session)
    core.engine.handle_timer(2.0)
    assert not session.closed


def test_event_for_unconnected_namespace_is_ignored() -> None:
    core = make()
    session = open_client(core)
    connect(core, session)
    feed(core, session, '42/chat,["x"]')
    assert core.take_events() == [] and not session.closed


def test_disconnected_socket_stays_reachable_until_forgotten() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    core.enter_room(socket, "den")
    socket.session["name"] = "ann"
    feed(core, session, "41")
    (event,) = core.take_events()
    assert isinstance(event, Disconnected)
    # the disconnect handler can still read the session and the rooms
    assert core.sockets[socket.sid] is socket and "den" in socket.rooms
    # ... but nothing more is sent to it
    assert core.emit("/", ["x"], ["den"]) == 0
    core.leave_room(socket, "den")
    core.forget(socket)
    assert socket.sid not in core.sockets
    assert core.adapter.select("/", None) == []
