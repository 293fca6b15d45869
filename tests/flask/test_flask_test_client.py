"""socketwire.flask through its test client, following the Flask-SocketIO documentation
section by section. The test client drives the real Engine.IO/Socket.IO core; handlers
run on the server's worker threads."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from flaskapp import USERS

import flask
import socketwire
from flask import Flask, request, session
from socketwire.flask import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    SocketIOTestClient,
    emit,
    send,
)

Made = tuple[Flask, SocketIO]


def names(received: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in received]


# ------------------------------------------------------------------ initialization


def test_init_app_style_and_extension_registered() -> None:
    app = Flask(__name__)
    socketio = SocketIO(cors_allowed_origins="*")

    @socketio.on("ping")
    def ping() -> str:
        return "pong"

    assert socketio.server is None
    socketio.init_app(app, ping_interval=7)
    assert app.extensions["socketio"] is socketio
    assert isinstance(app.wsgi_app, socketwire.WSGIApp)
    assert isinstance(socketio.server, socketwire.Server)
    engine = socketio.server.core.engine
    assert engine.ping_interval == 7 and engine.cors_allowed_origins == "*"
    client = socketio.test_client(app)
    assert client.emit("ping", callback=True) == "pong"


def test_options_are_validated(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="monkey_patch"):  # this process is not patched
        SocketIO(Flask(__name__), async_mode="eventlet")
    with pytest.raises(RuntimeError, match="patch_all"):  # this process is not patched
        SocketIO(Flask(__name__), async_mode="gevent")
    with pytest.raises(ValueError, match="carrier-pigeon"):
        SocketIO(async_mode="carrier-pigeon")
    SocketIO(async_mode="threading")
    with pytest.raises(ValueError, match="unsupported message queue"):
        SocketIO(Flask(__name__), message_queue="kafka://somewhere")
    socketio = SocketIO(channel="mine", manage_session=False, path="/ws/")
    assert (socketio.channel, socketio.manage_session, socketio.path) == ("mine", False, "ws")
    # unknown server options are ignored with a warning, as python-engineio ignores them
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="socketwire"):
        SocketIO(Flask(__name__), no_such_option=1)
    assert "no_such_option" in caplog.text


def test_run_rejects_unknown_arguments_before_serving(made: Made) -> None:
    app, socketio = made
    with pytest.raises(TypeError, match="bogus"):
        socketio.run(app, port=1, bogus=True)


def test_custom_path() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app, path="realtime")

    @socketio.on("where")
    def where() -> str:
        return request.path

    client = socketio.test_client(app)
    assert client.emit("where", callback=True) == "/realtime/"


# ------------------------------------------------------------------ receiving messages


def test_unnamed_message_and_json_events(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    client.send("echo this message back")
    client.send({"a": "b"}, json=True)
    assert client.get_received() == [
        {"name": "message", "args": "echo this message back", "namespace": "/"},
        {"name": "json", "args": {"a": "b"}, "namespace": "/"},
    ]


def test_named_event_with_several_arguments_and_ack(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    assert client.emit("echo", "a", 2, {"c": [3]}, callback=True) == ["a", 2, {"c": [3]}]
    assert client.get_received() == [
        {"name": "echo", "args": ["a", 2, {"c": [3]}], "namespace": "/"}
    ]
    assert client.emit("echo", {"one": 1}, callback=True) == {"one": 1}


def test_event_decorator_and_tuple_return_is_several_ack_args(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    assert client.emit("two_values", callback=True) == ["one", 2]


def test_on_event_registration() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    def handler(data: int) -> int:
        return data * 2

    socketio.on_event("double", handler, namespace="/math")
    client = socketio.test_client(app, namespace="/math")
    assert client.emit("double", 21, callback=True, namespace="/math") == 42


def test_handler_without_return_acks_with_no_arguments() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("quiet")
    def quiet() -> None:
        pass

    assert socketio.test_client(app).emit("quiet", callback=True) == []


def test_catch_all_event(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    assert client.emit("no such handler", 1, "two", callback=True) == {"caught": "no such handler"}
    assert client.get_received() == [
        {
            "name": "caught",
            "args": [{"event": "no such handler", "args": [1, "two"]}],
            "namespace": "/",
        }
    ]


def test_catch_all_namespace() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    seen: list[tuple[str, str]] = []

    @socketio.on("connect", namespace="*")
    def any_connect() -> None:
        seen.append(("connect", request.namespace))

    @socketio.on("where", namespace="*")
    def where() -> str:
        return request.namespace

    @socketio.on("*", namespace="*")
    def anything(event: str, data: Any) -> list[Any]:
        return [event, data, request.namespace]

    client = socketio.test_client(app, namespace="/anything")
    assert client.emit("where", callback=True, namespace="/anything") == "/anything"
    assert client.emit("other", 5, callback=True, namespace="/anything") == [
        "other",
        5,
        "/anything",
    ]
    assert seen == [("connect", "/anything")]


def test_binary_arguments_both_ways(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    blob = bytes(range(256))
    assert client.emit("bin", blob, callback=True) == blob
    assert client.get_received() == [{"name": "bin", "args": [blob[::-1]], "namespace": "/"}]


def test_unknown_event_without_catch_all_is_ignored() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("known")
    def known() -> str:
        return "yes"

    client = socketio.test_client(app)
    assert client.emit("unknown", callback=True) is None
    assert client.emit("known", callback=True) == "yes"


# ------------------------------------------------------------------ sending messages


def test_emit_and_send_reply_to_the_sender_only(made: Made) -> None:
    app, socketio = made
    a = socketio.test_client(app)
    b = socketio.test_client(app)
    a.get_received()
    b.get_received()
    a.emit("echo", "for a")
    a.send("msg for a")
    assert names(a.get_received()) == ["echo", "message"]
    assert b.get_received() == []


def test_send_and_emit_to_another_namespace() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("relay")
    def relay(text: str) -> None:
        # sids are per namespace, so another namespace is reached by broadcast or room
        emit("relayed", text, namespace="/chat", broadcast=True)
        send(text, namespace="/chat", broadcast=True)

    @socketio.on("connect", namespace="/chat")
    def chat_connect() -> None:
        pass

    client = socketio.test_client(app)
    client.connect(namespace="/chat")
    client.emit("relay", "hi")
    assert client.get_received() == []
    assert client.get_received("/chat") == [
        {"name": "relayed", "args": ["hi"], "namespace": "/chat"},
        {"name": "message", "args": "hi", "namespace": "/chat"},
    ]


def test_emit_tuple_sends_several_arguments() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("go")
    def go(data: Any) -> None:
        emit("my response", ("foo", "bar", data))

    client = socketio.test_client(app)
    client.emit("go", {"x": 1})
    assert client.get_received() == [
        {"name": "my response", "args": ["foo", "bar", {"x": 1}], "namespace": "/"}
    ]


def test_emit_callback_runs_in_the_client_context(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    client.emit("ask_back", "q")
    (question,) = client.get_received()
    assert question == {"name": "question", "args": ["q"], "namespace": "/"}
    # The test client does not answer server acks; a real client does (see the real-client
    # suite). The callback itself is exercised there.


def test_broadcast_and_include_self(made: Made) -> None:
    app, socketio = made
    a, b = socketio.test_client(app), socketio.test_client(app)
    chat = socketio.test_client(app, namespace="/chat")
    for client in (a, b):
        client.get_received()
    a.emit("broadcast", "all")
    assert a.get_received() == [{"name": "broadcast", "args": ["all"], "namespace": "/"}]
    assert b.get_received() == [{"name": "broadcast", "args": ["all"], "namespace": "/"}]
    a.emit("broadcast", "others", False)
    assert a.get_received() == []
    assert b.get_received() == [{"name": "broadcast", "args": ["others"], "namespace": "/"}]
    assert chat.get_received("/chat") == [
        {"name": "chat_welcome", "args": ["/chat"], "namespace": "/chat"}
    ]


def test_socketio_emit_outside_handlers_broadcasts(made: Made) -> None:
    app, socketio = made
    a, b = socketio.test_client(app), socketio.test_client(app)
    a.get_received()
    b.get_received()
    socketio.emit("news", {"data": 42})
    socketio.send("plain")
    for client in (a, b):
        assert client.get_received() == [
            {"name": "news", "args": [{"data": 42}], "namespace": "/"},
            {"name": "message", "args": "plain", "namespace": "/"},
        ]
    socketio.emit("only_a", to=a.sid)
    assert names(a.get_received()) == ["only_a"] and b.get_received() == []


def test_socketio_emit_from_a_background_task(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    assert client.emit("ticks", 5, callback=True) == "started"
    received: list[dict[str, Any]] = []

    def five_ticks() -> bool:
        received.extend(client.queue)
        client.queue.clear()
        return len(received) >= 5

    client.wait_for(five_ticks, what="5 ticks")
    assert [item["args"] for item in received] == [[0], [1], [2], [3], [4]]


def test_module_functions_outside_handlers_fail_clearly(made: Made) -> None:
    app, _ = made
    with pytest.raises(RuntimeError, match=r"inside a Socket.IO handler"):
        emit("x")
    with app.app_context(), pytest.raises(RuntimeError, match="no current client"):
        emit("x")


# ------------------------------------------------------------------ rooms


def test_join_leave_rooms_and_room_emits(made: Made) -> None:
    app, socketio = made
    a, b, c = (socketio.test_client(app) for _ in range(3))
    for client in (a, b, c):
        client.get_received()
    assert a.emit("join", "lobby", callback=True) == sorted(["lobby", a.sid])
    assert b.emit("join", "lobby", callback=True) == sorted(["lobby", b.sid])
    a.emit("to_room", "lobby", "hello lobby")
    assert a.get_received() == [{"name": "room_message", "args": ["hello lobby"], "namespace": "/"}]
    assert b.get_received() == [{"name": "room_message", "args": ["hello lobby"], "namespace": "/"}]
    assert c.get_received() == []
    a.emit("to_room", "lobby", "not me", False)
    assert a.get_received() == [] and names(b.get_received()) == ["room_message"]
    b.emit("send_room", "lobby", "via send")
    assert a.get_received() == [{"name": "message", "args": "via send", "namespace": "/"}]
    assert b.get_received() == [{"name": "message", "args": "via send", "namespace": "/"}]
    assert b.emit("leave", "lobby", callback=True) == [b.sid]
    a.emit("to_room", "lobby", "after leave")
    assert b.get_received() == [] and names(a.get_received()) == ["room_message"]
    # every client is in its own sid room
    c.emit("to_room", a.sid, "direct")
    assert a.get_received() == [{"name": "room_message", "args": ["direct"], "namespace": "/"}]


def test_close_room(made: Made) -> None:
    app, socketio = made
    a, b = socketio.test_client(app), socketio.test_client(app)
    a.emit("join", "doomed")
    b.emit("join", "doomed")
    a.emit("close", "doomed")
    a.get_received()
    b.get_received()
    a.emit("to_room", "doomed", "anyone?")
    assert a.get_received() == [] and b.get_received() == []


# ------------------------------------------------------------------ connection events


def test_connect_handler_gets_auth_and_request(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app, auth={"token": "t"}, query_string="tag=q1")
    (welcome,) = client.get_received()
    assert welcome["name"] == "welcome"
    assert welcome["args"][0]["auth"] == {"token": "t"}
    assert welcome["args"][0]["query"] == "q1"
    assert welcome["args"][0]["sid"] == client.sid


def test_each_connect_brings_its_own_query_string_and_headers() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    seen: list[tuple[str, str | None, str | None]] = []

    @socketio.on("connect", namespace="/chat")
    def chat_connect() -> None:
        seen.append(("/chat", request.args.get("room"), request.headers.get("X-Team")))

    @socketio.on("connect")
    def connect() -> None:
        seen.append(("/", request.args.get("room"), request.headers.get("X-Team")))

    client = socketio.test_client(app, query_string="room=lobby", headers={"X-Team": "red"})
    client.connect("/chat", query_string="room=kitchen", headers={"X-Team": "blue"})
    assert seen == [("/", "lobby", "red"), ("/chat", "kitchen", "blue")]
    assert client.is_connected("/") and client.is_connected("/chat")


def test_connect_handler_without_auth_argument() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("connect")
    def connect() -> None:
        emit("ok", request.sid)

    client = socketio.test_client(app, auth={"ignored": True})
    assert client.get_received() == [{"name": "ok", "args": [client.sid], "namespace": "/"}]


def test_connect_refused_by_returning_false(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app, query_string="deny=1")
    assert not client.is_connected()
    assert client.connect_errors["/"] == {"message": "Connection rejected by server"}
    with pytest.raises(RuntimeError, match="not connected"):
        client.emit("echo", 1)


def test_connect_refused_with_connection_refused_error(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app, auth={"refuse": "no entry"})
    assert not client.is_connected()
    assert client.connect_errors["/"] == {
        "message": "refused by the app",
        "data": {"why": "no entry"},
    }
    assert ConnectionRefusedError is socketwire.ConnectionRefusedError


def test_disconnect_handler_gets_the_reason(made: Made) -> None:
    app, socketio = made
    state = app.extensions["test_state"]
    client = socketio.test_client(app)
    sid = client.sid
    client.disconnect()
    assert not client.is_connected()
    assert (sid, "client disconnect") in state["disconnects"]
    assert socketio.reason.CLIENT_DISCONNECT == "client disconnect"


def test_disconnect_from_a_handler(made: Made) -> None:
    app, socketio = made
    state = app.extensions["test_state"]
    client = socketio.test_client(app)
    sid = client.sid
    client.emit("kick")
    assert not client.is_connected()
    assert (sid, "server disconnect") in state["disconnects"]


def test_disconnect_handler_without_reason_and_second_namespace() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    gone: list[str] = []

    @socketio.on("disconnect", namespace="/a")
    def bye() -> None:
        gone.append(request.namespace)

    client = socketio.test_client(app)
    client.connect("/a")
    assert client.is_connected("/a") and client.is_connected()
    client.disconnect("/a")
    assert gone == ["/a"] and client.is_connected()


def test_unknown_namespace_is_refused(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app, namespace="/nowhere")
    assert not client.is_connected("/nowhere")
    assert client.connect_errors["/nowhere"] == {"message": "Invalid namespace"}


# ------------------------------------------------------------------ class-based namespaces


def test_class_based_namespace(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app, namespace="/ns", auth={"k": 1})
    assert client.get_received("/ns") == [
        {"name": "ns_welcome", "args": [{"namespace": "/ns", "auth": {"k": 1}}], "namespace": "/ns"}
    ]
    assert client.emit("ping_me", "x", callback=True, namespace="/ns") == "pong"
    assert client.get_received("/ns") == [{"name": "pong_you", "args": ["x"], "namespace": "/ns"}]
    me = client.emit("whoami", callback=True, namespace="/ns")
    assert me == {"sid": client.sids["/ns"], "namespace": "/ns"}
    assert client.emit("no_method", callback=True, namespace="/ns") is None


def test_decorated_handler_wins_over_namespace_method_and_trigger_event_override() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    calls: list[str] = []

    class Audited(Namespace):
        def trigger_event(self, event: str, *args: Any) -> Any:
            calls.append(event)
            return super().trigger_event(event, *args)

        def on_thing(self) -> str:
            return "method"

        def on_other(self, data: int) -> int:
            return data + 1

    socketio.on_namespace(Audited("/x"))

    @socketio.on("thing", namespace="/x")
    def thing() -> str:
        return "decorated"

    client = socketio.test_client(app, namespace="/x")
    assert client.emit("thing", callback=True, namespace="/x") == "decorated"
    assert client.emit("other", 1, callback=True, namespace="/x") == 2
    assert calls == ["other"]
    with pytest.raises(ValueError):
        socketio.on_namespace(object())  # type: ignore[arg-type]


def test_namespace_helpers_emit_and_rooms() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    class Rooms(Namespace):
        def on_join(self, room: str) -> list[str]:
            self.enter_room(request.sid, room)
            return sorted(self.rooms(request.sid))

        def on_shout(self, room: str, text: str) -> None:
            self.emit("shout", text, room=room)
            self.send(text, to=room)

    socketio.on_namespace(Rooms("/r"))
    a = socketio.test_client(app, namespace="/r")
    b = socketio.test_client(app, namespace="/r")
    assert a.emit("join", "g", callback=True, namespace="/r") == sorted(["g", a.sids["/r"]])
    b.emit("shout", "g", "hey", namespace="/r")
    assert a.get_received("/r") == [
        {"name": "shout", "args": ["hey"], "namespace": "/r"},
        {"name": "message", "args": "hey", "namespace": "/r"},
    ]
    assert b.get_received("/r") == []


# ------------------------------------------------------------------ error handling


def test_error_handler_sees_request_event_and_its_value_is_the_ack(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.get_received()
    assert client.emit("boom", {"n": 1}, callback=True) == "handled"
    assert client.get_received() == [
        {
            "name": "error_seen",
            "args": [
                {
                    "error": "boom {'n': 1}",
                    "type": "ValueError",
                    "message": "boom",
                    "args": [{"n": 1}],
                }
            ],
            "namespace": "/",
        }
    ]
    assert client.is_connected()
    assert client.emit("echo", "still here", callback=True) == "still here"


def test_namespace_error_handler(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app, namespace="/chat")
    client.get_received("/chat")
    assert client.emit("fail", callback=True, namespace="/chat") == "chat handled"
    assert client.get_received("/chat") == [
        {
            "name": "chat_error",
            "args": [{"error": "KeyError", "message": "fail"}],
            "namespace": "/chat",
        }
    ]


def test_default_error_handler_and_unhandled_errors() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    seen: list[Any] = []

    @socketio.on("bad", namespace="/d")
    def bad(x: int) -> None:
        raise RuntimeError(x)

    @socketio.on_error_default
    def default(e: Exception) -> None:
        seen.append((type(e).__name__, request.event, request.namespace))

    client = socketio.test_client(app, namespace="/d")
    assert client.emit("bad", 3, callback=True, namespace="/d") == []
    assert seen == [("RuntimeError", {"message": "bad", "args": (3,)}, "/d")]

    plain = Flask(__name__)
    bare = SocketIO(plain)

    @bare.on("bad")
    def also_bad() -> None:
        raise RuntimeError("nobody handles me")

    client = bare.test_client(plain)
    # the server logs it and sends no ack; the test client re-raises it to the caller, as
    # Flask-SocketIO's does, and the client stays connected
    with pytest.raises(RuntimeError, match="nobody handles me"):
        client.emit("bad", callback=True)
    assert client.is_connected()
    with pytest.raises(RuntimeError, match="nobody handles me"):
        client.emit("bad")

    @bare.on("good")
    def good() -> str:
        return "fine"

    assert client.emit("good", callback=True) == "fine"  # nothing left over from the errors


# ------------------------------------------------------------------ Flask contexts


def test_app_and_request_context_in_handlers(made: Made) -> None:
    app, socketio = made
    state = app.extensions["test_state"]
    client = socketio.test_client(app)
    before = state["before_request"]
    ctx = client.emit("context", callback=True)
    assert ctx == {
        "app": app.name,
        "sid": client.sid,
        "namespace": "/",
        "event": "context",
        "before_request_ran": False,
        "user": None,
        "remote_addr_set": True,
    }
    assert state["before_request"] == before  # before_request does not run for events


def test_g_is_fresh_for_each_event() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("count")
    def count() -> int:
        flask.g.n = flask.g.get("n", 0) + 1
        return int(flask.g.n)

    client = socketio.test_client(app)
    assert [client.emit("count", callback=True) for _ in range(3)] == [1, 1, 1]


def test_session_is_forked_at_connect(made: Made) -> None:
    app, socketio = made
    http = app.test_client()
    http.get("/session?color=blue")
    client = socketio.test_client(app, flask_test_client=http)
    (welcome,) = client.get_received()
    assert welcome["args"][0]["session_color"] == "blue"
    # changes persist across this client's events ...
    client.emit("session_set", "color", "red")
    assert client.emit("session_get", "color", callback=True) == "red"
    # ... but do not reach the cookie, nor other connections
    assert http.get("/session/show").get_json() == {"color": "blue"}
    other = socketio.test_client(app, flask_test_client=http)
    assert other.emit("session_get", "color", callback=True) == "blue"
    # and the HTTP session changing later does not reach the connected client
    http.get("/session?color=green")
    assert client.emit("session_get", "color", callback=True) == "red"


def test_manage_session_false_uses_the_session_interface() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k"
    saved: list[dict[str, Any]] = []

    class Recording(flask.sessions.SecureCookieSessionInterface):
        def save_session(self, app: Flask, session: Any, response: Any) -> None:
            saved.append(dict(session))
            super().save_session(app, session, response)

    app.session_interface = Recording()
    socketio = SocketIO(app, manage_session=False)

    @socketio.on("set")
    def set_value(value: str) -> None:
        session["v"] = value

    @socketio.on("get")
    def get_value() -> Any:
        return session.get("v")

    client = socketio.test_client(app)
    client.emit("set", "x")
    assert saved == [{"v": "x"}]
    # a cookie session cannot be written from an event: the next event reads the cookie again
    assert client.emit("get", callback=True) == []


def test_flask_login_current_user(made: Made) -> None:
    app, socketio = made
    http = app.test_client()
    assert (
        http.post("/login", data={"user": "alice", "password": USERS["alice"]}).status_code == 200
    )
    client = socketio.test_client(app, flask_test_client=http)
    assert client.get_received()[0]["args"][0]["user"] == "alice"
    assert client.emit("context", callback=True)["user"] == "alice"
    client.connect("/private")
    assert client.is_connected("/private")
    assert client.emit("secret", callback=True, namespace="/private") == "secret for alice"


def test_flask_login_protected_namespace_refuses_anonymous(made: Made) -> None:
    app, socketio = made
    anonymous = socketio.test_client(app, namespace="/private")
    assert not anonymous.is_connected("/private")
    http = app.test_client()
    http.post("/login", data={"user": "bob", "password": "wrong"})
    still_anonymous = socketio.test_client(app, namespace="/private", flask_test_client=http)
    assert not still_anonymous.is_connected("/private")


def test_authenticated_only_decorator_disconnects_anonymous() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k"
    import flask_login
    from flaskapp import authenticated_only

    flask_login.LoginManager(app).user_loader(lambda name: None)
    socketio = SocketIO(app)

    @socketio.on("secret")
    @authenticated_only
    def secret() -> str:
        return "never"

    client = socketio.test_client(app)
    assert client.emit("secret", callback=True) is None  # disconnected: no ack
    assert not client.is_connected()


# ------------------------------------------------------------------ faults and threads


def test_blocking_handler_does_not_hold_other_clients(made: Made) -> None:
    app, socketio = made
    blocked = socketio.test_client(app)
    result: list[Any] = []
    thread = threading.Thread(
        target=lambda: result.append(blocked.emit("block", "k", callback=True))
    )
    thread.start()
    other = socketio.test_client(app)
    try:
        assert other.emit("is_blocked", "k", callback=True) is True
        assert other.emit("echo", "not blocked", callback=True) == "not blocked"
        assert thread.is_alive()  # still blocked
    finally:
        assert other.emit("release", "k", callback=True) == "released"
        thread.join(10)
    assert result == [True]


def test_client_disconnects_while_its_handler_runs(made: Made) -> None:
    app, socketio = made
    state = app.extensions["test_state"]
    leaving = socketio.test_client(app, query_string="tag=mid-ack")
    thread = threading.Thread(target=lambda: leaving.emit("slow_ack", callback=True))
    thread.start()
    other = socketio.test_client(app)
    assert other.emit("slow_ack_started", "mid-ack", callback=True) is True
    leaving.disconnect()  # returns once the disconnect handler ran, the event still running
    assert other.emit("slow_ack_status", "mid-ack", callback=True) == {
        "returned": True,
        "gone": True,
    }
    thread.join(10)
    assert not thread.is_alive()
    assert (leaving.sids["/"], "client disconnect") in state["disconnects"]
    assert other.emit("echo", "alive", callback=True) == "alive"


def test_test_client_times_out_on_a_stuck_handler() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    stuck = threading.Event()

    @socketio.on("stuck")
    def stuck_handler() -> None:
        stuck.wait(5)

    client = socketio.test_client(app)
    client.timeout = 0.2
    try:
        with pytest.raises(socketwire.TimeoutError):
            client.emit("stuck")
    finally:
        stuck.set()


def test_test_client_rejects_use_when_disconnected(made: Made) -> None:
    app, socketio = made
    client = socketio.test_client(app)
    client.disconnect()
    for call in (lambda: client.emit("x"), client.disconnect, client.get_received):
        with pytest.raises(RuntimeError, match="not connected"):
            call()
    client.connect()
    assert client.is_connected()


def test_test_client_class_is_exported(made: Made) -> None:
    app, socketio = made
    assert isinstance(socketio.test_client(app), SocketIOTestClient)


def test_handler_that_disconnects_returns_disconnected_every_time() -> None:
    """The disconnect handler of a client disconnected by its own event handler may finish
    first, on another worker; emit() still waits for the event's own handler, so the client
    is seen disconnected when it returns (Flask-SocketIO's test_server_disconnected)."""
    from socketwire.flask import Namespace, disconnect

    app = Flask(__name__)
    socketio = SocketIO(app)
    left: list[str] = []

    class Exits(Namespace):
        def on_exit(self, data: Any) -> None:
            disconnect()

        def on_disconnect(self, reason: str) -> None:
            left.append(reason)

    socketio.on_namespace(Exits("/ns"))
    for _ in range(100):
        client = socketio.test_client(app, namespace="/ns")
        other = socketio.test_client(app, namespace="/ns")
        client.emit("exit", {}, namespace="/ns")
        assert not client.is_connected("/ns")
        assert other.is_connected("/ns")
        with pytest.raises(RuntimeError):
            client.emit("hello", {}, namespace="/ns")
        other.disconnect("/ns")
    assert len(left) == 200
