"""The Engine.IO core, driven without I/O; time is a number the test chooses."""

from __future__ import annotations

import gzip

import orjson
import pytest
from helpers import Recorder, handshake, outbox_text, poll, post, request

from socketwire.engineio import packet as pk
from socketwire.engineio.core import (
    UPGRADE_POLL_HOLD,
    DisconnectReason,
    EngineCore,
    PollWait,
    Response,
    State,
    WebSocketAccept,
)


def make(**options: object) -> tuple[EngineCore, Recorder]:
    listener = Recorder()
    options.setdefault("ping_interval", 0.3)
    options.setdefault("ping_timeout", 0.2)
    return EngineCore(listener, **options), listener  # type: ignore[arg-type]


def error(response: object) -> tuple[int, int]:
    assert isinstance(response, Response)
    return response.status, orjson.loads(response.body)["code"]


def test_handshake_open_packet() -> None:
    engine, listener = make(max_http_buffer_size=1234)
    session, info = handshake(engine)
    assert info == {
        "sid": session.sid,
        "upgrades": ["websocket"],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1234,
    }
    assert listener.opened == [session]
    assert len(session.sid) == 20


def test_post_ok_and_poll_gets_message() -> None:
    engine, listener = make()
    session, _ = handshake(engine)
    response = post(engine, session, "4hello\x1ebAQID", 0.01)
    assert (response.status, response.body) == (200, b"ok")
    assert listener.messages == [(session.sid, "hello"), (session.sid, b"\x01\x02\x03")]
    engine.send(session, pk.message("back"))
    result = poll(engine, session, 0.02)
    assert isinstance(result, Response) and result.body == b"4back"


def test_poll_parks_until_data() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    assert isinstance(poll(engine, session, 0.01), PollWait)
    session.poll_waiter = "waiter"
    engine.take_dirty()
    assert not engine.poll_ready(session)
    engine.send(session, pk.message("x"))
    assert engine.take_dirty() == [session]
    assert engine.poll_ready(session)
    assert engine.poll_response(session).body == b"4x"


def test_heartbeat_ping_then_timeout() -> None:
    engine, listener = make()
    session, _ = handshake(engine, now=0.0)
    assert engine.next_deadline() == pytest.approx(0.3)
    engine.handle_timer(0.3)
    assert outbox_text(session) == "2"
    assert engine.next_deadline() == pytest.approx(0.5)
    engine.handle_timer(0.49)
    assert not session.closed
    engine.handle_timer(0.5)
    assert session.closed
    assert listener.closed == [(session.sid, DisconnectReason.PING_TIMEOUT)]


def test_pong_keeps_session_alive() -> None:
    engine, listener = make()
    session, _ = handshake(engine)
    for cycle in range(3):
        start = cycle * 0.35
        engine.handle_timer(start + 0.3)
        assert isinstance(poll(engine, session, start + 0.31), Response)
        post(engine, session, "3", start + 0.35)
    assert not session.closed and not listener.closed


def test_poll_at_deadline_is_refused_even_if_timer_is_late() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    engine.handle_timer(0.3)
    # no timer call at the deadline: the request itself runs what is due
    assert error(poll(engine, session, 0.5)) == (400, 1)


def test_late_ping_timer_does_not_extend_deadline_beyond_half() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    engine.handle_timer(0.35)  # ping due at 0.3, fired late
    assert engine.next_deadline() == pytest.approx(0.5)
    engine.handle_timer(0.45)
    assert not session.closed
    engine2, _ = make()
    s2, _ = handshake(engine2)
    engine2.handle_timer(0.6)  # very late: still at least half the timeout
    assert engine2.next_deadline() == pytest.approx(0.7)
    assert not s2.closed


def test_pong_in_a_post_counts_even_if_processed_after_deadline() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    engine.handle_timer(0.3)
    assert poll(engine, session, 0.31).body == b"2"  # the client gets its ping
    post(engine, session, "3", 0.55)  # arrived; the core looks at it before the timers
    assert not session.closed


def test_a_pong_to_a_ping_still_in_the_outbox_does_not_count() -> None:
    """A client that never polls never saw the ping: its blind pongs keep nothing alive."""
    engine, listener = make()
    session, _ = handshake(engine)
    engine.handle_timer(0.3)  # the ping is queued, never fetched
    post(engine, session, "3", 0.35)
    engine.handle_timer(0.6)
    assert session.closed
    assert listener.closed == [(session.sid, DisconnectReason.PING_TIMEOUT)]


def test_duplicate_poll_closes_session() -> None:
    engine, listener = make()
    session, _ = handshake(engine)
    assert isinstance(poll(engine, session, 0.01), PollWait)
    session.poll_waiter = "first"
    assert error(poll(engine, session, 0.02)) == (400, 3)
    assert session.closed
    assert engine.poll_response(session).body == b"1"
    assert listener.closed == [(session.sid, DisconnectReason.TRANSPORT_ERROR)]


def test_client_close_releases_poll_with_noop() -> None:
    engine, listener = make()
    session, _ = handshake(engine)
    poll(engine, session, 0.01)
    session.poll_waiter = "w"
    post(engine, session, "1", 0.02)
    assert engine.poll_response(session).body == b"6"
    assert listener.closed == [(session.sid, DisconnectReason.CLIENT_DISCONNECT)]
    assert error(poll(engine, session, 0.03)) == (400, 1)


def test_invalid_post_closes_session() -> None:
    engine, listener = make()
    session, _ = handshake(engine)
    response = post(engine, session, "abc", 0.01)
    assert response.status == 400
    assert listener.closed == [(session.sid, DisconnectReason.TRANSPORT_ERROR)]


def test_post_over_limit_is_refused() -> None:
    engine, _ = make(max_http_buffer_size=10)
    session, _ = handshake(engine)
    assert post(engine, session, "4" + "x" * 20, 0.01).status == 413
    assert not session.closed


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        ("GET", {"EIO": "4"}, (400, 0)),
        ("GET", {"EIO": "4", "transport": "carrier-pigeon"}, (400, 0)),
        ("GET", {"EIO": "3", "transport": "polling"}, (400, 5)),
        ("GET", {"transport": "polling"}, (400, 5)),
        ("POST", {"EIO": "4", "transport": "polling"}, (400, 2)),
        ("PUT", {"EIO": "4", "transport": "polling"}, (400, 2)),
        ("GET", {"EIO": "4", "transport": "polling", "sid": "nope"}, (400, 1)),
        ("POST", {"EIO": "4", "transport": "polling", "sid": "nope"}, (400, 1)),
        ("GET", {"EIO": "4", "transport": "websocket"}, (400, 3)),  # no Upgrade header
    ],
)
def test_request_errors(method: str, query: dict[str, str], expected: tuple[int, int]) -> None:
    engine, _ = make()
    assert error(engine.handle_request(request(method, **query), b"", 0)) == expected


def test_put_with_sid_is_bad_request() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    result = engine.handle_request(
        request("PUT", EIO="4", transport="polling", sid=session.sid), b"", 0.01
    )
    assert error(result) == (400, 3)


WS = {"upgrade": "websocket"}


def test_websocket_only_session() -> None:
    engine, listener = make(transports=["websocket"])
    assert error(engine.handle_request(request(EIO="4", transport="polling"), b"", 0)) == (400, 0)
    result = engine.handle_request(request(headers=WS, EIO="4", transport="websocket"), b"", 0)
    assert isinstance(result, WebSocketAccept) and not result.probe
    session = result.session
    session.ws = "ws"
    packets = engine.take_ws_output(session)
    info = orjson.loads(packets[0].data[1:])  # type: ignore[index]
    assert info["upgrades"] == []
    assert engine.receive_ws(session, "ws", "4hi", 0.01) == []
    assert engine.receive_ws(session, "ws", b"\x00", 0.01) == []
    assert listener.messages == [(session.sid, "hi"), (session.sid, b"\x00")]
    engine.receive_ws(session, "ws", "abc", 0.02)
    assert listener.closed == [(session.sid, DisconnectReason.TRANSPORT_ERROR)]


def test_upgrade_flow() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    assert isinstance(poll(engine, session, 0.01), PollWait)
    session.poll_waiter = "poll"
    engine.send(session, pk.message("queued"))  # would end the poll, but a probe comes
    result = engine.handle_request(
        request(headers=WS, EIO="4", transport="websocket", sid=session.sid), b"", 0.01
    )
    assert isinstance(result, WebSocketAccept) and result.probe
    session.probe_ws = "probe"
    replies = engine.receive_ws(session, "probe", "2probe", 0.02)
    assert [p.data for p in replies] == ["3probe"]
    assert session.state is State.UPGRADING
    assert not engine.poll_ready(session)  # held briefly
    engine.handle_timer(0.02 + UPGRADE_POLL_HOLD)
    assert engine.poll_ready(session)
    assert engine.poll_response(session).body == b"6"
    assert session.outbox  # the queued message waits for the WebSocket
    engine.receive_ws(session, "probe", "5", 0.1)
    assert session.transport == "websocket" and session.ws == "probe"
    assert [p.data for p in engine.take_ws_output(session)] == ["4queued"]
    # a second WebSocket and polling are refused now
    again = engine.handle_request(
        request(headers=WS, EIO="4", transport="websocket", sid=session.sid), b"", 0.2
    )
    assert isinstance(again, WebSocketAccept) and again.reject
    assert error(poll(engine, session, 0.3)) == (400, 3)


def test_poll_parked_when_upgrade_completes_is_refused() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    engine.handle_request(
        request(headers=WS, EIO="4", transport="websocket", sid=session.sid), b"", 0.0
    )
    session.probe_ws = "probe"
    poll(engine, session, 0.001)
    session.poll_waiter = "poll"
    engine.receive_ws(session, "probe", "2probe", 0.002)
    engine.receive_ws(session, "probe", "5", 0.003)
    engine.handle_timer(0.1)
    assert engine.poll_ready(session)
    assert engine.poll_response(session).status == 400


def test_upgrade_timeout_abandons_probe() -> None:
    engine, _ = make(upgrade_timeout=1.0, ping_interval=10, ping_timeout=10)
    session, _ = handshake(engine)
    engine.handle_request(
        request(headers=WS, EIO="4", transport="websocket", sid=session.sid), b"", 0.0
    )
    session.probe_ws = "probe"
    engine.receive_ws(session, "probe", "2probe", 0.1)
    engine.handle_timer(1.0)
    assert session.state is State.OPEN and session.transport == "polling"
    assert session.probe_ws is None and session.stale_ws == "probe"


@pytest.mark.parametrize(
    ("allowed", "origin", "ok"),
    [
        (None, "http://localhost:5000", True),  # same origin (Host header)
        (None, "http://evil.example", False),
        ("*", "http://evil.example", True),
        ("http://a.example", "http://a.example", True),
        ("http://a.example", "http://b.example", False),
        (["http://a.example", "http://b.example"], "http://b.example", True),
        (lambda origin: origin.endswith(".ok"), "http://x.ok", True),
        (lambda origin: origin.endswith(".ok"), "http://x.no", False),
    ],
)
def test_cors(allowed: object, origin: str, ok: bool) -> None:
    engine, _ = make(cors_allowed_origins=allowed)
    headers = {"origin": origin, "host": "localhost:5000"}
    result = engine.handle_request(request(headers=headers, EIO="4", transport="polling"), b"", 0)
    assert isinstance(result, Response)
    if ok:
        assert result.status == 200
        assert ("Access-Control-Allow-Origin", origin) in result.headers
    else:
        assert error(result) == (403, 4)


def test_empty_origin_list_turns_cors_handling_off() -> None:
    engine, _ = make(cors_allowed_origins=[])
    headers = {"origin": "http://anywhere.example", "host": "localhost"}
    result = engine.handle_request(request(headers=headers, EIO="4", transport="polling"), b"", 0)
    assert isinstance(result, Response) and result.status == 200
    assert not any(name.startswith("Access-Control") for name, _ in result.headers)


def test_cors_checked_on_websocket_too() -> None:
    engine, _ = make()
    headers = {"origin": "http://evil.example", "host": "localhost", **WS}
    result = engine.handle_request(request(headers=headers, EIO="4", transport="websocket"), b"", 0)
    assert error(result) == (403, 4)


def test_preflight() -> None:
    engine, _ = make(cors_allowed_origins="*")
    headers = {"origin": "http://x", "access-control-request-headers": "x-token"}
    result = engine.handle_request(request("OPTIONS", headers=headers, EIO="4"), b"", 0)
    assert isinstance(result, Response) and result.status == 204
    assert ("Access-Control-Allow-Headers", "x-token") in result.headers


def test_cookie() -> None:
    engine, _ = make(cookie="io")
    result = engine.handle_request(request(EIO="4", transport="polling"), b"", 0)
    assert isinstance(result, Response)
    cookie = dict(result.headers)["Set-Cookie"]
    sid = next(iter(engine.sessions))
    assert cookie.startswith(f"io={sid}; Path=/") and "HttpOnly" in cookie


def test_cookie_dict_attributes() -> None:
    stamps = iter(["Wed, 01 Jan 2031 00:00:00 GMT", "Thu, 02 Jan 2031 00:00:00 GMT"])
    engine, _ = make(
        cookie={
            "name": "sw",
            "path": "/app",
            "domain": "example.com",
            "max_age": 60,
            "expires": lambda: next(stamps),  # asked anew for every handshake
            "secure": True,
            "httponly": False,
            "SameSite": "Strict",
        }
    )
    cookies = []
    for now in (0, 1):
        result = engine.handle_request(request(EIO="4", transport="polling"), b"", now)
        assert isinstance(result, Response)
        cookies.append(dict(result.headers)["Set-Cookie"])
    sid = next(iter(engine.sessions))
    assert cookies[0] == (
        f"sw={sid}; Path=/app; Domain=example.com; Max-Age=60; "
        "Expires=Wed, 01 Jan 2031 00:00:00 GMT; Secure; SameSite=Strict"
    )
    assert "Expires=Thu, 02 Jan 2031" in cookies[1] and "HttpOnly" not in cookies[1]


def test_compression_of_large_poll_responses() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    engine.send(session, pk.message("x" * 5000))
    headers = {"accept-encoding": "gzip, deflate"}
    result = engine.handle_request(
        request(headers=headers, EIO="4", transport="polling", sid=session.sid), b"", 0.01
    )
    assert isinstance(result, Response)
    assert ("Content-Encoding", "gzip") in result.headers
    assert gzip.decompress(result.body) == b"4" + b"x" * 5000


def test_server_close_sends_close_packet_over_websocket() -> None:
    engine, listener = make(transports=["websocket"])
    result = engine.handle_request(request(headers=WS, EIO="4", transport="websocket"), b"", 0)
    assert isinstance(result, WebSocketAccept)
    session = result.session
    session.ws = "ws"
    engine.take_ws_output(session)
    engine.send(session, pk.message("bye"))
    engine.close(session, DisconnectReason.SERVER_DISCONNECT)
    assert [p.data for p in engine.take_ws_output(session)] == ["4bye", "1"]
    assert listener.closed == [(session.sid, DisconnectReason.SERVER_DISCONNECT)]


def test_broadcast_shares_packet_objects() -> None:
    engine, _ = make()
    sessions = [handshake(engine)[0] for _ in range(3)]
    packet = pk.message("all")
    engine.send_many(sessions, [packet])
    assert all(s.outbox[-1] is packet for s in sessions)


def test_poll_responses_carry_at_most_16_packets() -> None:
    engine, _ = make()
    session, _ = handshake(engine)
    for i in range(40):
        engine.send(session, pk.message(str(i)))
    bodies = []
    for step in range(3):
        result = poll(engine, session, 0.01 * (step + 1))
        assert isinstance(result, Response)
        bodies.append(result.body.decode().split("\x1e"))
    assert [len(b) for b in bodies] == [16, 16, 8]
    assert [item for body in bodies for item in body] == [f"4{i}" for i in range(40)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate", "gzip"),
        ("deflate", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("gzip;q=0, identity", None),
        ("deflate;q=0.5, gzip;q=0.4", "deflate"),
        ("*", "gzip"),
        ("*;q=0", None),
        ("br", None),
        ("", None),
        ("gzip;q=abc", None),
    ],
)
def test_accept_encoding(header: str, expected: str | None) -> None:
    from socketwire.engineio.core import choose_encoding

    assert choose_encoding(header) == expected


def test_payload_too_large_closes_the_polling_session() -> None:
    engine, listener = make(max_http_buffer_size=10)
    session, _ = handshake(engine)
    other, _ = handshake(engine)
    response = engine.payload_too_large(
        request("POST", EIO="4", transport="polling", sid=session.sid), 0.01
    )
    assert error(response) == (413, 3)
    assert listener.closed == [(session.sid, DisconnectReason.TRANSPORT_ERROR)]
    assert not other.closed
    # without a (known) session it is just the answer
    assert error(engine.payload_too_large(request("POST", EIO="4", transport="polling"), 0.02)) == (
        413,
        3,
    )


def test_poll_overtaken_by_the_clients_close_gets_a_noop_once() -> None:
    engine, listener = make()
    session, _ = handshake(engine)
    post(engine, session, "1", 0.01)  # the close arrives before the poll sent with it
    assert listener.closed == [(session.sid, DisconnectReason.CLIENT_DISCONNECT)]
    first = poll(engine, session, 0.02)
    assert isinstance(first, Response) and (first.status, first.body) == (200, b"6")
    assert error(poll(engine, session, 0.03)) == (400, 1)  # only once
    other, _ = handshake(engine)
    post(engine, other, "1", 0.1)
    assert error(poll(engine, other, 2.0)) == (400, 1)  # and only shortly after the close


def test_allow_upgrades_false_keeps_polling() -> None:
    engine, _ = make(allow_upgrades=False)
    session, info = handshake(engine)
    assert info["upgrades"] == []
    result = engine.handle_request(
        request(headers=WS, EIO="4", transport="websocket", sid=session.sid), b"", 0.01
    )
    assert error(result) == (400, 3)
    # a WebSocket-only connection is still fine
    direct = engine.handle_request(request(headers=WS, EIO="4", transport="websocket"), b"", 0.02)
    assert isinstance(direct, WebSocketAccept)


def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    """X-Forwarded-Host/-Proto widen the same-origin default only when the peer is one of
    ``trusted_proxies``: otherwise any client could name its own origin as ours."""
    from socketwire.engineio.core import Request

    def handshake_from(engine: EngineCore, peer: str) -> int:
        req = Request(
            "GET",
            {"EIO": "4", "transport": "polling"},
            {
                "host": "app.internal:5000",
                "origin": "https://evil.example",
                "x-forwarded-host": "evil.example",
                "x-forwarded-proto": "https",
            },
            lambda: {"REMOTE_ADDR": peer},
        )
        result = engine.handle_request(req, b"", 0.0)
        assert isinstance(result, Response)
        return result.status

    assert handshake_from(make()[0], "10.0.0.1") == 403
    assert handshake_from(make(trusted_proxies=["10.0.0.1"])[0], "10.0.0.9") == 403
    assert handshake_from(make(trusted_proxies=["10.0.0.1"])[0], "10.0.0.1") == 200
    assert handshake_from(make(trusted_proxies="*")[0], "10.0.0.9") == 200
