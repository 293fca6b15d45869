"""Official JS socket.io-client 4.x (Node) against socketwire.

Each test runs one scenario of js_driver.cjs in a subprocess, over
polling only / websocket only / polling-then-upgrade, against the test app
in every serving mode of conftest.MODES: the asyncio app served natively and
under uvicorn, and its threaded twin served natively, by gunicorn (gthread,
gevent), Werkzeug and gevent.pywsgi.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ServerProcess, heavy_modes
from .helpers import (
    MAX_PAYLOAD,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    decode_bins,
    expected_transport,
    run_js,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

TRANSPORTS = ("polling", "websocket", "upgrade")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def js(server: ServerProcess, scenario: str, transport: str, tag: str, **kw: Any) -> dict[str, Any]:
    return run_js(server.url, scenario, transport, tag, server_log=server.log_tail, **kw)


def test_connect_with_auth(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "connect_auth", transport, tag)
    assert r["connected"] is True
    assert r["transport"] == expected_transport(transport)
    who = r["whoami"]
    assert who["sid"] == r["socket_id"], "server sid must equal client socket.id"
    assert who["sid"] != r["engine_id"], "namespace sid must differ from the Engine.IO sid"
    assert who["namespace"] == "/"
    assert who["tag"] == tag
    assert who["auth"] == r["sent_auth"], "auth payload must reach the connect handler intact"
    assert who["sid"] in who["rooms"], "every socket is in its own sid room"
    # an emit from inside the connect handler reaches the client
    assert r["welcome"] == {"sid": who["sid"], "tag": tag}
    # session API
    assert r["session_before"] == {"tag": tag, "count": 0}
    assert r["incr"] == [1, 2]
    assert r["session_after"] == {"tag": tag, "count": 2}
    # Engine.IO handshake values reflect the server configuration
    assert r["handshake"] == {
        "pingInterval": PING_INTERVAL_MS,
        "pingTimeout": PING_TIMEOUT_MS,
        "maxPayload": MAX_PAYLOAD,
    }
    assert r["client_reason"] == "io client disconnect"
    assert r["server_view"] == {"reasons": ["client disconnect"], "timeout": False}


def test_connect_refused_with_data(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "connect_refused", transport, tag)
    assert r["refused"] == {
        "message": "go away",
        "data": {"code": 4001, "namespace": "/", "tag": tag + "-r1"},
    }
    assert r["refused_connected"] is False
    # returning False from connect is a refusal too (message is implementation-defined)
    assert isinstance(r["rejected_false"]["message"], str) and r["rejected_false"]["message"]
    assert r["chat_refused"] == {
        "message": "chat closed",
        "data": {"code": 4001, "namespace": "/chat", "tag": tag},
    }
    assert r["root_connected_after_chat_refusal"] is True
    assert r["root_echo_after"] == ["still", "here"]
    assert r["later_connect_ok"] is True
    assert r["transport"] == expected_transport(transport)


def test_events_both_ways(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "events", transport, tag, params={"burst": 100})
    assert r["server_says"] == r["sent"]
    assert r["sent"][5]["u"] == "h\u00e9llo \u2713 \U0001f680"
    assert r["message"] == {"echo": "plain message \u00fc"}
    assert r["catch_all"] == ["caught", "no_such_handler", {"x": 1}, "y"]
    assert r["burst_error"] is None
    assert r["burst"] == list(range(100)), "events must arrive complete and in order"
    assert r["transport"] == expected_transport(transport)


def test_acks_both_ways(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "acks", transport, tag)
    assert r["ack_none"] == []
    assert r["ack_one"] == [{"a": 1}]
    assert r["ack_many"] == ["x", 2, [3], {"four": 4}]
    # server -> client via sio.call
    assert r["server_call"] == [{"single": {"got": [{"q": "life"}], "from": "js"}}]
    assert r["server_call_multi"] == [{"multi": [1, "two", {"three": 3}, ["m"]]}]
    assert r["server_call_empty"] == [{"single": None}]
    # server -> client via emit(callback=...)
    assert r["server_emit_callback"] == [{"multi": [1, "two", {"three": 3}, ["cb"]]}]
    # sio.call to a client that never acks times out
    err = r["server_call_timeout"][0].get("error", "")
    assert "Timeout" in err, r["server_call_timeout"]
    assert r["emit_with_ack"] == "ewa"
    assert r["transport"] == expected_transport(transport)


def test_binary_both_ways(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "binary", transport, tag, params={"big": 300_000})
    small = bytes([0, 1, 2, 253, 254, 255])
    nested = {"nested": [b"\x00\xff", {"deep": b"abc"}], "n": 7, "empty": b""}
    assert r["echo"] == [small, nested, "text"]
    expected = [
        bytes(range(256)),
        {"nested": [b"\x00\xff", {"deep": b"abc"}], "n": 1, "empty": b""},
    ]
    assert r["from_server_ack"] == expected
    assert r["from_server_event"] == expected
    assert r["client_ack_bytes"] == [{"multi": [b"\x09\x08\x07", {"b": b"\x06"}]}]
    assert r["big_echo_len"] == 300_000
    assert r["big_echo_ok"] is True
    assert r["big_from_server"] == {"ack_len": 300_000, "len": 300_000, "ok": True}
    assert r["transport"] == expected_transport(transport)


def test_namespaces(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "namespaces", transport, tag)
    assert r["same_engine"] is True, "both namespaces must share one Manager/engine"
    assert r["root_whoami"]["namespace"] == "/"
    assert r["chat_whoami"]["namespace"] == "/chat"
    assert r["root_whoami"]["sid"] == r["root_id"]
    assert r["chat_whoami"]["sid"] == r["chat_id"]
    assert r["root_id"] != r["chat_id"], "each namespace gets its own sid"
    assert r["chat_whoami"]["auth"] == {"tag": tag, "room": "x"}
    assert r["root_echo"] == ["r"]
    assert r["chat_echo"] == ["chat", "c", b"\x01\x02"]
    assert r["chat_events"] == [["chat_msg", {"hi": "chat"}], ["fence", "chat-fence"]]
    assert r["root_events"] == [["fence", "root-fence"]], "no /chat traffic on /"
    assert r["chat_client_reason"] == "io server disconnect"
    assert r["chat_server_view"] == {"reasons": ["server disconnect"], "timeout": False}
    assert r["root_connected_after"] is True
    assert r["root_echo_after"] == ["alive"]
    assert r["root_client_reason"] == "io client disconnect"
    assert r["root_server_view"] == {"reasons": ["client disconnect"], "timeout": False}
    assert r["transport"] == expected_transport(transport)


def test_rooms_and_broadcast(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "rooms", transport, tag)
    room = "room-" + tag
    ids = r["ids"]
    assert room in r["join_A"] and ids["A"] in r["join_A"]
    assert room in r["join_B"] and ids["B"] in r["join_B"]

    def news(phase: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {n: [e[1] for e in evs if e[0] == "news"] for n, evs in phase.items()}

    assert news(r["room_skip_self"]) == {"A": [], "B": ["room-skip-self"], "C": []}
    assert news(r["room_no_skip"]) == {"A": ["room-all"], "B": ["room-all"], "C": []}
    # broadcast to the whole namespace, skipping the sender
    allc = news(r["all_skip_C"])
    assert allc["A"] == ["everyone-but-C"] and allc["B"] == ["everyone-but-C"]
    assert allc["C"] == []
    assert room not in r["leave_B"] and ids["B"] in r["leave_B"]
    assert news(r["after_leave"]) == {"A": ["after-leave"], "B": [], "C": []}
    assert news(r["to_sid"]) == {"A": [], "B": [], "C": ["to-C-sid"]}
    assert room not in r["close_room_A"]
    assert news(r["after_close"]) == {"A": [], "B": [], "C": []}
    assert r["transport"] == expected_transport(transport)


def test_server_disconnect(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "server_disconnect", transport, tag)
    assert r["transport"] == expected_transport(transport)
    assert r["client_reason"] == "io server disconnect"
    assert r["connected_after"] is False
    assert r["server_view"] == {"reasons": ["server disconnect"], "timeout": False}


def test_client_disconnect(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(server, "client_disconnect", transport, tag)
    assert r["transport"] == expected_transport(transport)
    assert r["whoami_tag"] == tag
    assert r["client_reason"] == "io client disconnect"
    assert r["server_view"] == {"reasons": ["client disconnect"], "timeout": False}


@heavy_modes(TRANSPORTS)
def test_client_vanishes(server: ServerProcess, transport: str, tag: str) -> None:
    """The client process dies without a goodbye: the server must notice."""
    r = js(server, "vanish", transport, tag)
    assert r["whoami_tag"] == tag
    assert r["transport"] == expected_transport(transport)
    # ping_interval + ping_timeout is 6s; allow generous slack
    view = js(server, "probe", "websocket", "probe", params={"target_tag": tag, "timeout_s": 15})
    assert view["timeout"] is False, "server never noticed the client was gone"
    assert len(view["reasons"]) == 1
    if expected_transport(transport) == "websocket":
        assert view["reasons"] == ["transport close"]
    else:
        # a dead long-poll is noticed by the missing pong, or by the closed
        # HTTP connection
        assert view["reasons"][0] in ("ping timeout", "transport close")


@heavy_modes(TRANSPORTS)
def test_heartbeat_keeps_connection(server: ServerProcess, transport: str, tag: str) -> None:
    r = js(
        server,
        "heartbeat",
        transport,
        tag,
        params={"pings": 2, "ping_wait_ms": 3 * PING_INTERVAL_MS + 4000},
    )
    assert r["pings"] >= 2
    assert r["connected"] is True
    assert r["echo_after"] == ["after-pings"]
    assert r["transport"] == expected_transport(transport)


def test_decode_bins_helper() -> None:
    """The $bin decoding used by all the assertions above really decodes."""
    assert decode_bins({"a": [{"$bin": "AAH/"}], "b": {"$bin": ""}}) == {
        "a": [b"\x00\x01\xff"],
        "b": b"",
    }
