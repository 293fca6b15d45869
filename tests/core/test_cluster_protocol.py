"""The cluster protocol without a broker: messages built by one node, applied by another's
core; every malformed message refused."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from test_socketio_core import connect, make, open_client, wire

from socketwire import cluster
from socketwire.cluster import ClusterMessageError, ClusterNode


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


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"not msgpack at all \xff",
        msgpack.packb([1, 2, 3]),
        msgpack.packb(GOOD | {"v": 2}),
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
        b"\x80\x04\x95pickle",
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(ClusterMessageError):
        cluster.decode(data, "ch")


def test_good_message_accepted() -> None:
    assert roundtrip(GOOD)["room"] == "r"


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
