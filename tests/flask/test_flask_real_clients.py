"""The test app served by each threaded mode (``socketio.run(app)``, gunicorn ``-k gthread``,
``flask run``) against python-socketio's ``Client``, over long-polling and WebSocket."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio

from conftest import ServerProcess

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

WAIT = 10.0


class Client:
    """A python-socketio Client that records every event it receives."""

    def __init__(self, server: ServerProcess, transport: str) -> None:
        self.server = server
        self.transport = transport
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, str, list[Any]]] = []
        self.arrived = threading.Condition()
        self.answers: dict[str, Any] = {}

        @self.sio.on("*", namespace="*")
        def any_event(event: str, namespace: str, *args: Any) -> Any:
            with self.arrived:
                self.events.append((namespace, event, list(args)))
                self.arrived.notify_all()
            return self.answers.get(event)

    def connect(
        self,
        namespaces: list[str] | None = None,
        auth: Any = None,
        query: str = "",
        headers: dict[str, str] | None = None,
    ) -> Client:
        url = self.server.url + (f"?{query}" if query else "")
        self.sio.connect(
            url,
            namespaces=namespaces or ["/"],
            auth=auth,
            headers=headers or {},
            transports=[self.transport],
            wait_timeout=WAIT,
        )
        return self

    def _take(self, event: str, namespace: str, match: Any = None) -> list[Any] | None:
        for i, (nsp, name, args) in enumerate(self.events):
            if name == event and nsp == namespace and (match is None or match(args)):
                del self.events[i]
                return args
        return None

    def next(self, event: str, namespace: str = "/", match: Any = None) -> list[Any]:
        """The arguments of the first ``event`` received and not yet taken (for which
        ``match(args)`` is true, if given)."""
        taken: list[list[Any]] = []

        def found() -> bool:
            args = self._take(event, namespace, match)
            if args is not None:
                taken.append(args)
            return bool(taken)

        with self.arrived:
            if not self.arrived.wait_for(found, WAIT):
                raise AssertionError(f"no {event!r} in {namespace} within {WAIT}s")
        return taken[0]

    def nothing_more(self, event: str) -> None:
        """No ``event`` was received (check after a round trip that follows it)."""
        with self.arrived:
            assert [e for e in self.events if e[1] == event] == []

    def call(self, event: str, *args: Any, namespace: str = "/") -> Any:
        data = args[0] if len(args) == 1 else (args if args else None)
        return self.sio.call(event, data, namespace=namespace, timeout=WAIT)

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture(params=["polling", "websocket"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clients(
    request: pytest.FixtureRequest, flask_server: ServerProcess, transport: str
) -> Iterator[Any]:
    made: list[Client] = []

    def make() -> Client:
        client = Client(flask_server, transport)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def tag() -> str:
    return uuid.uuid4().hex[:10]


def test_connect_auth_events_acks_and_binary(clients: Any, transport: str) -> None:
    client = clients().connect(auth={"token": "t"}, query="tag=q7")
    assert client.sio.transport() == transport
    (welcome,) = client.next("welcome")
    assert welcome["auth"] == {"token": "t"} and welcome["query"] == "q7"
    assert welcome["sid"] == client.sio.get_sid("/")
    assert client.call("echo", "a", 2, {"c": 3}) == ("a", 2, {"c": 3})
    assert client.next("echo") == ["a", 2, {"c": 3}]
    assert client.call("two_values") == ("one", 2)
    client.sio.send("plain text")
    assert client.next("message") == ["plain text"]
    client.sio.emit("json", {"j": 1})
    assert client.next("json") == [{"j": 1}]
    blob = bytes(range(256)) * 4
    assert client.call("bin", blob) == blob
    assert client.next("bin") == [blob[::-1]]
    assert client.call("whatever", 1) == {"caught": "whatever"}
    assert client.next("caught") == [{"event": "whatever", "args": [1]}]


def test_rooms_and_broadcasts(clients: Any) -> None:
    room = "room-" + tag()
    a, b, c = clients().connect(), clients().connect(), clients().connect()
    assert a.call("join", room) == sorted([room, a.sio.get_sid("/")])
    b.call("join", room)
    a.sio.emit("to_room", (room, "hello", False))
    assert b.next("room_message") == ["hello"]
    a.sio.emit("to_room", (room, "with me"))
    assert a.next("room_message") == ["with me"] and b.next("room_message") == ["with me"]
    marker = tag()
    c.sio.emit("broadcast", (marker, False))
    assert a.next("broadcast") == [marker] and b.next("broadcast") == [marker]
    a.call("close", room)
    a.call("to_room", room, "after close")  # acknowledged once the handler has emitted
    for client in (a, b):
        client.call("echo", "sync")  # anything sent to it before is queued by now
        client.nothing_more("room_message")


def test_socketio_emit_from_background_thread(clients: Any) -> None:
    client = clients().connect()
    assert client.call("ticks", 5) == "started"
    assert [client.next("tick")[0] for _ in range(5)] == [0, 1, 2, 3, 4]


def test_server_callback_runs_in_client_context(clients: Any) -> None:
    client = clients().connect()
    client.answers["question"] = "forty-two"
    client.sio.emit("ask_back", "what?")
    assert client.next("question") == ["what?"]
    assert client.next("answered") == [{"args": ["forty-two"], "same_sid": True}]


def test_refused_connections(clients: Any) -> None:
    denied = clients()
    denied_errors: list[Any] = []
    denied.sio.on("connect_error", lambda data: denied_errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        denied.connect(query="deny=1")
    assert denied_errors == [{"message": "Connection rejected by server"}]
    refused = clients()
    errors: list[Any] = []
    refused.sio.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(auth={"refuse": "closed"})
    assert errors == [{"message": "refused by the app", "data": {"why": "closed"}}]
    with pytest.raises(socketio.exceptions.ConnectionError):
        clients().connect(namespaces=["/nowhere"])


def test_namespaces_decorated_and_class_based(clients: Any) -> None:
    client = clients().connect(namespaces=["/", "/chat", "/ns"], auth={"k": 2})
    assert client.next("chat_welcome", "/chat") == ["/chat"]
    assert client.next("ns_welcome", "/ns") == [{"namespace": "/ns", "auth": {"k": 2}}]
    client.sio.emit("say", "hi all", namespace="/chat")
    assert client.next("said", "/chat") == [{"text": "hi all", "namespace": "/chat"}]
    assert client.call("ping_me", "p", namespace="/ns") == "pong"
    assert client.next("pong_you", "/ns") == ["p"]
    assert client.call("whoami", namespace="/ns") == {
        "sid": client.sio.get_sid("/ns"),
        "namespace": "/ns",
    }


def test_error_handlers_keep_the_client(clients: Any) -> None:
    client = clients().connect(namespaces=["/", "/chat"])
    assert client.call("boom", 5) == "handled"
    assert client.next("error_seen") == [
        {"error": "boom 5", "type": "ValueError", "message": "boom", "args": [5]}
    ]
    assert client.call("fail", namespace="/chat") == "chat handled"
    assert client.next("chat_error", "/chat") == [{"error": "KeyError", "message": "fail"}]
    assert client.call("echo", "still connected") == "still connected"


def test_disconnect_reasons_seen_by_the_server(clients: Any) -> None:
    observer = clients().connect(auth={"observe": True})
    kicked = clients().connect()
    kicked_sid = kicked.sio.get_sid("/")
    kicked.sio.emit("kick")

    def of(sid: str) -> Any:
        return lambda args: args[0]["sid"] == sid  # the observer sees every client leave

    assert observer.next("left", match=of(kicked_sid)) == [
        {"sid": kicked_sid, "reason": "server disconnect"}
    ]
    leaving = clients().connect()
    leaving_sid = leaving.sio.get_sid("/")
    leaving.close()
    (left,) = observer.next("left", match=of(leaving_sid))
    assert left["sid"] == leaving_sid
    # python-socketio's sync client hands DISCONNECT to its writer thread and tears the
    # transport down at once, so the packet may never leave: the server then sees the
    # WebSocket close, or (polling) the session time out. The JS suite checks the exact
    # 'client disconnect' reason over both transports.
    assert left["reason"] in ("client disconnect", "transport close", "ping timeout")


def test_flask_session_and_login(flask_server: ServerProcess, clients: Any) -> None:
    http = requests.Session()
    assert http.get(flask_server.url + "/session", params={"color": "teal"}, timeout=WAIT).ok
    assert http.post(
        flask_server.url + "/login", data={"user": "alice", "password": "wonderland"}, timeout=WAIT
    ).ok
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    client = clients().connect(namespaces=["/", "/private"], headers={"Cookie": cookie})
    (welcome,) = client.next("welcome")
    assert welcome["user"] == "alice" and welcome["session_color"] == "teal"
    assert client.call("secret", namespace="/private") == "secret for alice"
    client.sio.emit("session_set", ("color", "red"))
    assert client.call("session_get", "color") == "red"
    assert http.get(flask_server.url + "/session/show", timeout=WAIT).json()["color"] == "teal"
    context = client.call("context")
    assert context["user"] == "alice" and context["before_request_ran"] is False

    anonymous = clients()
    with pytest.raises(socketio.exceptions.ConnectionError):
        anonymous.connect(namespaces=["/private"])


def test_blocking_handler_leaves_other_clients_alone(clients: Any) -> None:
    key = tag()
    blocked, other = clients().connect(), clients().connect()
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(blocked.call("block", key)))
    thread.start()
    try:
        assert other.call("is_blocked", key) is True
        for n in range(5):
            assert other.call("echo", n) == n
        assert thread.is_alive()
    finally:
        assert other.call("release", key) == "released"
        thread.join(WAIT)
    assert result == [True]


def test_a_burst_comes_back_in_order(clients: Any) -> None:
    """300 events from one client to a handler that emits back: they start in arrival
    order and, being quick, finish in order, on every threaded serving mode."""
    client = clients().connect()
    got: list[int] = []
    done = threading.Event()

    def ordered(n: int) -> None:
        got.append(n)
        if len(got) == 300:
            done.set()

    client.sio.on("ordered", ordered)
    for n in range(300):
        client.sio.emit("order", n)
    assert done.wait(WAIT), f"{len(got)} of 300 came back"
    assert got == list(range(300))


def test_a_blocking_handler_does_not_stop_its_client_for_long(clients: Any) -> None:
    """With async_handlers=True (the default) the client's next events start beside a
    handler that blocks (after handler_stall, 0.1 s)."""
    key = tag()
    blocked = clients().connect()
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(blocked.call("block", key)))
    thread.start()
    try:
        assert blocked.call("is_blocked", key) is True
        started = time.monotonic()
        assert blocked.call("echo", "me too") == "me too"
        assert time.monotonic() - started < 1.0
    finally:
        assert blocked.call("release", key) == "released"
        thread.join(WAIT)
    assert result == [True]


def test_client_disconnects_mid_ack(flask_server: ServerProcess, clients: Any) -> None:
    key = tag()
    leaving = clients().connect(query=f"tag={key}")
    acked: list[Any] = []
    leaving.sio.emit("slow_ack", callback=lambda *a: acked.append(a))
    other = clients().connect()
    assert other.call("slow_ack_started", key) is True
    leaving.close()
    assert other.call("slow_ack_status", key) == {"returned": True, "gone": True}
    assert acked == []
    assert other.call("echo", "server fine") == "server fine"
    assert flask_server.alive()


def test_options_from_constructor_and_run_are_merged(flask_server: ServerProcess) -> None:
    response = requests.get(
        flask_server.url + "/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=WAIT
    )
    assert response.ok and response.text.startswith("0")
    handshake = json.loads(response.text[1:])
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (2000, 4000)  # SocketIO(...)
    # socketio.run(..., max_http_buffer_size=500_000) where run() serves (native, gevent)
    expected = 500_000 if flask_server.mode in ("native", "gevent", "eventlet") else 1_000_000
    assert handshake["maxPayload"] == expected
