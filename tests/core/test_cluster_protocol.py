"""The cluster protocol without a broker: messages built by one node, applied by another's
core; every malformed message refused."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from test_socketio_core import connect, feed, make, open_client, wire

from socketwire import cluster
from socketwire.cluster import ClusterMessageError, ClusterNode, Gathering, Recipient
from socketwire.socketio.core import Disconnected


def roundtrip(message: dict[str, Any], channel: str = "ch") -> dict[str, Any]:
    return cluster.decode(cluster.encode(message), channel)


def test_emit_is_encoded_once_and_delivered_by_the_other_node() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    core.enter_room(socket, "den")
    sender, receiver = ClusterNode(None, "ch"), ClusterNode(core, "ch")
    message = roundtrip(sender.emit("/", ["news", b"\x01"], ["den"], None))
    assert message["packet"][0] == '51-["news",{"_placeholder":true,"num":0}]'
    receiver.apply(message, lambda reply: None)
    assert wire(core, session) == ['451-["news",{"_placeholder":true,"num":0}]', b"\x01"]
    assert receiver.apply(message | {"node": receiver.node_id}, print) is None  # own: ignored


def test_call_ack_round_trip_and_fetch() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    asker, owner = ClusterNode(None, "ch", clock=lambda: 100.0), ClusterNode(core, "ch")
    replies: list[dict[str, Any]] = []
    answers: list[Any] = []
    owner.apply(
        roundtrip(asker.emit("/", ["q"], [socket.sid], None, answers.append)), replies.append
    )
    assert wire(core, session) == ['420["q"]']
    core.engine.receive_ws(session, session.ws, '430["yes"]', 1.0)
    (ack_event,) = core.take_events()
    ack_event.callback(*ack_event.args)  # what the runtime does with the relay
    callback = asker.apply(roundtrip(replies[0]), print)
    assert callback is not None
    callback(*replies[0]["args"])
    assert answers == ["yes"]
    # fetch: the asker waits for the owner only
    asker.apply(roundtrip(owner.hello(answer=True)), replies.append)
    done: list[Any] = []
    query, request = asker.fetch("/", None, None, 100.0, done.append)
    assert request is not None and query.waiting == {owner.node_id}
    owner.apply(roundtrip(request), replies.append)
    asker.apply(roundtrip(replies[-1]), print)
    assert done == [query] and [s["sid"] for s in query.sockets] == [socket.sid]
    # a peer unheard of for long is not waited for
    assert asker.alive_peers(100.0 + 2.5 * cluster.HEARTBEAT + 1) == set()


GOOD = {"v": 1, "ch": "ch", "node": "n1", "op": "close", "nsp": "/", "room": "r"}
GOOD_REPLY = {"node": "n2", "id": 1}
GATHERED = {
    "v": 2,
    "ch": "ch",
    "node": "n1",
    "op": "gathered",
    "to": "n2",
    "id": 1,
    "count": 2,
    "answers": [["x"]],
    "gone": 0,
}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"not msgpack at all \xff",
        msgpack.packb([1, 2, 3]),
        msgpack.packb(GOOD | {"v": 3}),
        msgpack.packb(GOOD | {"v": True}),
        msgpack.packb(GOOD | {"v": 1.0}),
        msgpack.packb(GOOD | {"ch": "other-app"}),
        msgpack.packb(GOOD | {"node": 5}),
        msgpack.packb(GOOD | {"op": "exec"}),
        msgpack.packb(GOOD | {"nsp": "no-slash"}),
        msgpack.packb(GOOD | {"op": "join", "sids": "abc"}),
        msgpack.packb(GOOD | {"op": "emit", "rooms": None, "except": [], "packet": ["x", []]}),
        msgpack.packb(
            GOOD | {"op": "emit", "rooms": None, "except": [], "packet": ['2/other,["x"]', []]}
        ),
        msgpack.packb(
            GOOD
            | {
                "op": "emit",
                "rooms": None,
                "except": [],
                "packet": ['51-["x",{"_placeholder":true,"num":0}]', []],
            }
        ),
        msgpack.packb(
            GOOD
            | {
                "op": "call",
                "rooms": None,
                "except": [],
                "args": [],
                "reply": {"node": "n", "id": 1},
            }
        ),
        msgpack.packb(GOOD | {"op": "fetch", "rooms": None, "except": [], "reply": None}),
        msgpack.packb(GOOD | {"op": "ack", "to": "n", "id": "1", "args": []}),
        msgpack.packb(GOOD | {"op": "sockets", "to": "n", "id": 1, "sockets": [{"sid": 1}]}),
        msgpack.packb(GOOD | {"op": "hello", "answer": "yes"}),
        # version 2: selectors, gather/gathered
        msgpack.packb(GOOD | {"v": 2, "op": "join", "except": [], "names": ["r"]}),  # no rooms
        msgpack.packb(GOOD | {"v": 2, "op": "join", "rooms": None, "except": [], "names": "r"}),
        msgpack.packb(GOOD | {"v": 2, "op": "join", "sids": ["a"], "room": "r"}),  # v1 shape
        msgpack.packb(GOOD | {"v": 2, "op": "leave", "rooms": [1], "except": [], "names": []}),
        msgpack.packb(GOOD | {"v": 2, "op": "kick", "rooms": None, "except": [], "close": 1}),
        msgpack.packb(GOOD | {"v": 2, "op": "kick", "rooms": None, "except": None, "close": True}),
        msgpack.packb(GOOD | {"op": "kick"}),  # version 1 without sids
        msgpack.packb(GOOD | {"op": "join", "sids": ["a"], "room": 5}),  # version 1, bad room
        msgpack.packb(
            GOOD | {"op": "gather", "rooms": None, "except": [], "args": ["e"], "reply": GOOD_REPLY}
        ),  # gather needs version 2
        msgpack.packb(
            GOOD
            | {"v": 2, "op": "gather", "rooms": None, "except": [], "args": [], "reply": GOOD_REPLY}
        ),
        msgpack.packb(GOOD | {"v": 2, "op": "gather", "rooms": None, "except": [], "args": ["e"]}),
        msgpack.packb(GATHERED | {"v": 1}),
        msgpack.packb(GATHERED | {"count": -1}),
        msgpack.packb(GATHERED | {"count": True}),
        msgpack.packb(GATHERED | {"gone": None}),
        msgpack.packb(GATHERED | {"answers": ["not a list"]}),
        msgpack.packb(GATHERED | {"id": "1"}),
        msgpack.packb(GATHERED | {"to": None}),
        b"\x80\x04\x95pickle",
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(ClusterMessageError):
        cluster.decode(data, "ch")


def test_good_message_accepted() -> None:
    assert roundtrip(GOOD)["room"] == "r"
    assert roundtrip(GATHERED)["count"] == 2
    assert roundtrip(GATHERED | {"count": None, "answers": [], "gone": 1})["gone"] == 1


def test_messages_are_sent_in_the_oldest_version_that_says_them() -> None:
    node = ClusterNode(None, "ch")
    assert node.emit("/", ["e"], None, None)["v"] == 1
    assert node.close_room("/", "r")["v"] == 1
    assert node.hello()["v"] == 1
    assert node.join("/", None, None, ["r"])["v"] == 2
    assert node.kick("/", ["a"], None, close=True)["v"] == 2


def test_room_operations_on_a_selection_applied_by_another_node() -> None:
    core = make()
    sessions = [open_client(core) for _ in range(3)]
    a, b, c = (connect(core, session) for session in sessions)
    other = connect(core, sessions[2], "/chat")  # c's connection, another namespace
    core.enter_room(a, "den")
    core.enter_room(b, "den")
    sender, receiver = ClusterNode(None, "ch"), ClusterNode(core, "ch")

    def apply(message: dict[str, Any]) -> None:
        receiver.apply(roundtrip(message), print)

    # the den, less b, joins two rooms; everyone of "/" joins "all"; nobody of /chat does
    apply(sender.join("/", ["den"], [b.sid], ["x", "y"]))
    apply(sender.join("/", None, None, ["all"]))
    assert a.rooms.keys() >= {"x", "y", "all"} and not b.rooms.keys() & {"x", "y"}
    assert "all" in c.rooms and "all" not in other.rooms
    apply(sender.leave("/", ["all"], [a.sid], ["all", "x"]))
    assert "all" in a.rooms and "all" not in b.rooms and "all" not in c.rooms
    # kick the den, less a: only b goes, and its connection stays open
    apply(sender.kick("/", ["den"], [a.sid]))
    assert [type(e) for e in core.take_events()] == [Disconnected]
    assert wire(core, sessions[1]) == ["41"] and not sessions[1].closed
    # kick with close: c's whole connection closes, its /chat socket too
    apply(sender.kick("/", [c.sid], None, close=True))
    gone = core.take_events()
    assert {e.socket.sid for e in gone if isinstance(e, Disconnected)} == {c.sid, other.sid}
    assert sessions[2].closed and not sessions[0].closed


def test_version_1_room_messages_are_still_understood() -> None:
    core = make()
    session = open_client(core)
    socket = connect(core, session)
    receiver = ClusterNode(core, "ch")
    v1 = {"v": 1, "ch": "ch", "node": "old", "nsp": "/"}
    receiver.apply(roundtrip(v1 | {"op": "join", "sids": [socket.sid], "room": "r"}), print)
    assert "r" in socket.rooms
    receiver.apply(roundtrip(v1 | {"op": "leave", "sids": [socket.sid], "room": "r"}), print)
    assert "r" not in socket.rooms
    receiver.apply(roundtrip(v1 | {"op": "kick", "sids": [socket.sid]}), print)
    assert [type(e) for e in core.take_events()] == [Disconnected] and not session.closed


def test_gather_counts_answers_and_losses_across_nodes() -> None:
    core = make()
    sessions = [open_client(core) for _ in range(3)]
    sockets = [connect(core, session) for session in sessions]
    asker, owner = ClusterNode(None, "ch", clock=lambda: 1.0), ClusterNode(core, "ch")
    asker.apply(roundtrip(owner.hello()), print)
    finished: list[Gathering] = []
    gathering = Gathering(finished.append)
    request = asker.gather(gathering, "/", ["q", 1], None, [sockets[2].sid], 1.0)
    assert request is not None and gathering.waiting == {owner.node_id}
    gathering.start([], Recipient(gathering.answered, gathering.lost))  # nobody local
    replies: list[dict[str, Any]] = []
    owner.apply(roundtrip(request), replies.append)
    # the count goes first; the two recipients got an ack request, the skipped one nothing
    assert replies[0]["count"] == 2 and replies[0]["v"] == 2
    assert wire(core, sessions[0]) == ['420["q",1]'] and wire(core, sessions[2]) == []

    def relay(message: dict[str, Any]) -> None:
        assert asker.apply(roundtrip(message), print) is None

    relay(replies[0])
    assert gathering.expected == 2 and not gathering.waiting and not finished
    feed(core, sessions[0], '430["yes",2]')
    (ack,) = core.take_events()
    ack.callback(*ack.args)  # what the runtime does with a client's ack
    relay(replies[1])
    assert gathering.responses == [("yes", 2)] and not finished
    # the other recipient disconnects without answering: the runtime reports it lost
    feed(core, sessions[1], "41")
    (left,) = core.take_events()
    assert isinstance(left, Disconnected)
    for callback in list(left.socket.acks.values()):
        if isinstance(callback, Recipient):
            callback.gone()
    relay(replies[2])
    assert replies[2]["gone"] == 1
    assert finished == [gathering] and gathering.responses == [("yes", 2)]
    assert asker.gatherings == {}


def test_gather_waits_for_every_alive_node_and_tells_which_is_missing() -> None:
    asker = ClusterNode(None, "ch", clock=lambda: 1.0)
    asker.peers = {"n-a": 1.0, "n-b": 1.0}
    finished: list[Gathering] = []
    gathering = Gathering(finished.append)
    assert asker.gather(gathering, "/", ["q"], ["room"], None, 1.0) is not None
    gathering.start([], Recipient(gathering.answered, gathering.lost))
    heard = {"v": 2, "ch": "ch", "op": "gathered", "to": asker.node_id, "id": gathering.id}
    asker.apply(roundtrip(heard | {"node": "n-a", "count": 1, "answers": [], "gone": 0}), print)
    asker.apply(
        roundtrip(heard | {"node": "n-a", "count": None, "answers": [[]], "gone": 0}), print
    )
    assert not finished and gathering.responses == [None]
    assert "n-b" in gathering.describe() and "1 of 1" in gathering.describe()
    asker.apply(roundtrip(heard | {"node": "n-b", "count": 0, "answers": [], "gone": 0}), print)
    assert finished == [gathering]
    # late news of a finished gathering changes nothing
    asker.apply(
        roundtrip(heard | {"node": "n-a", "count": None, "answers": [[1]], "gone": 0}), print
    )
    assert gathering.responses == [None]


def test_gather_with_nobody_else_completes_locally() -> None:
    asker = ClusterNode(None, "ch")
    finished: list[Gathering] = []
    gathering = Gathering(finished.append)
    assert asker.gather(gathering, "/", ["q"], None, None, 1.0) is None  # no peers
    gathering.start([], Recipient(gathering.answered, gathering.lost))
    assert finished == [gathering] and gathering.responses == []


def test_sentinel_urls() -> None:
    from socketwire.managers.redis import _sentinel_args

    sentinels, service, options = _sentinel_args(
        "redis+sentinel://:s%40cret@h1:26380,h2/mymaster/3"
    )
    assert sentinels == [("h1", 26380), ("h2", 26379)]
    assert service == "mymaster"
    assert options == {"password": "s@cret", "db": 3}
    with pytest.raises(ValueError, match="service"):
        _sentinel_args("redis+sentinel://h1:26379")
