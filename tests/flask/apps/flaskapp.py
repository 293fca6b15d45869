"""The Flask-SocketIO style app the socketwire.flask tests run: through the test client
in process, and served in subprocesses by ``socketio.run(app)`` (``python flaskapp.py
PORT``), gunicorn ``-k gthread`` (``flaskapp:app``) and ``flask --app flaskapp run``.

Only ``socketwire.flask`` imports differ from a Flask-SocketIO app."""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
from typing import Any

from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from flask import Flask, current_app, g, request, session
from socketwire.flask import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    close_room,
    disconnect,
    emit,
    join_room,
    leave_room,
    rooms,
    send,
)

USERS = {"alice": "wonderland", "bob": "builder"}
#: how long a handler waits for a signal before giving up (keeps faults bounded)
HANDLER_WAIT = 20.0


class User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


def authenticated_only(f: Any) -> Any:
    """The Flask-SocketIO docs' decorator: refuse events from anonymous users."""

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            disconnect()
            return None
        return f(*args, **kwargs)

    return wrapped


class EchoNamespace(Namespace):
    """A class-based namespace at /ns."""

    def on_connect(self, auth: Any) -> None:
        emit("ns_welcome", {"namespace": request.namespace, "auth": auth})

    def on_disconnect(self, reason: str) -> None:
        self.emit(
            "left",
            {"sid": request.sid, "reason": reason, "ns": "/ns"},
            room="observers",
            namespace="/",
        )

    def on_ping_me(self, data: Any) -> str:
        emit("pong_you", data)
        return "pong"

    def on_whoami(self) -> dict[str, Any]:
        return {"sid": request.sid, "namespace": request.namespace}


def create_app(**options: Any) -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test-secret"
    login_manager = LoginManager(app)
    state: dict[str, Any] = {
        "before_request": 0,
        "signals": collections.defaultdict(threading.Event),  # name -> Event
        "disconnects": [],
    }
    signals: collections.defaultdict[str, threading.Event] = state["signals"]
    app.extensions["test_state"] = state

    @login_manager.user_loader
    def load_user(name: str) -> User | None:
        return User(name) if name in USERS else None

    @app.before_request
    def count_requests() -> None:
        state["before_request"] += 1
        g.before_request_ran = True

    @app.route("/")
    def index() -> str:
        return "flask app"

    @app.route("/login", methods=["GET", "POST"])
    def login() -> tuple[str, int] | str:
        name = request.values.get("user", "")
        if USERS.get(name) != request.values.get("password"):
            return "bad credentials", 401
        login_user(User(name))
        return f"logged in as {name}"

    @app.route("/logout")
    def logout() -> str:
        logout_user()
        return "logged out"

    @app.route("/session")
    def set_session() -> str:
        for key, value in request.args.items():
            session[key] = value
        return "ok"

    @app.route("/session/show")
    def show_session() -> dict[str, Any]:
        return {key: session[key] for key in session if not key.startswith("_")}

    socketio = SocketIO(app, **options)

    # ------------------------------------------------------------- default namespace

    @socketio.on("connect")
    def on_connect(auth: Any) -> Any:
        if request.args.get("deny"):
            return False
        if auth and auth.get("refuse"):
            raise ConnectionRefusedError("refused by the app", {"why": auth["refuse"]})
        if auth and auth.get("observe"):
            join_room("observers")
        emit(
            "welcome",
            {
                "sid": request.sid,
                "auth": auth,
                "user": current_user.id if current_user.is_authenticated else None,
                "session_color": session.get("color"),
                "query": request.args.get("tag"),
            },
        )
        return None

    @socketio.on("disconnect")
    def on_disconnect(reason: str) -> None:
        state["disconnects"].append((request.sid, reason))
        if request.args.get("tag"):
            signals["gone:" + request.args["tag"]].set()
        socketio.emit("left", {"sid": request.sid, "reason": str(reason)}, to="observers")

    @socketio.on("message")
    def on_message(message: Any) -> None:
        send(message)

    @socketio.on("json")
    def on_json(data: Any) -> None:
        send(data, json=True)

    @socketio.on("echo")
    def on_echo(*args: Any) -> Any:
        emit("echo", *args)
        return args[0] if len(args) == 1 else args

    @socketio.event
    def two_values() -> tuple[str, int]:
        return "one", 2

    @socketio.on("bin")
    def on_bin(data: bytes) -> bytes:
        emit("bin", data[::-1])
        return data

    @socketio.on("join")
    def on_join(room: str) -> list[str]:
        join_room(room)
        return sorted(rooms())

    @socketio.on("leave")
    def on_leave(room: str) -> list[str]:
        leave_room(room)
        return sorted(rooms())

    @socketio.on("to_room")
    def on_to_room(room: str, data: Any, include_self: bool = True) -> None:
        emit("room_message", data, to=room, include_self=include_self)

    @socketio.on("send_room")
    def on_send_room(room: str, data: Any) -> None:
        send(data, to=room)

    @socketio.on("close")
    def on_close(room: str) -> None:
        close_room(room)

    @socketio.on("broadcast")
    def on_broadcast(data: Any, include_self: bool = True) -> None:
        emit("broadcast", data, broadcast=True, include_self=include_self)

    @socketio.on("server_broadcast")
    def on_server_broadcast(data: Any) -> None:
        socketio.emit("server_broadcast", data)  # context-free: everyone on '/'

    @socketio.on("kick")
    def on_kick() -> None:
        disconnect()

    @socketio.on("boom")
    def on_boom(data: Any) -> None:
        raise ValueError(f"boom {data}")

    @socketio.on_error()
    def on_error(e: Exception) -> str:
        emit(
            "error_seen",
            {
                "error": str(e),
                "type": type(e).__name__,
                "message": request.event["message"],
                "args": list(request.event["args"]),
            },
        )
        return "handled"

    @socketio.on("session_set")
    def on_session_set(key: str, value: Any) -> None:
        session[key] = value

    @socketio.on("session_get")
    def on_session_get(key: str) -> Any:
        return session.get(key)

    @socketio.on("context")
    def on_context() -> dict[str, Any]:
        g.touched = True
        return {
            "app": current_app.name,
            "sid": request.sid,
            "namespace": request.namespace,
            "event": request.event["message"],
            "before_request_ran": g.get("before_request_ran", False),
            "user": current_user.id if current_user.is_authenticated else None,
            "remote_addr_set": request.remote_addr is not None,
        }

    @socketio.on("ask_back")
    def on_ask_back(data: Any) -> None:
        sid = request.sid

        def answered(*args: Any) -> None:
            # runs in the asking client's context
            emit("answered", {"args": list(args), "same_sid": request.sid == sid})

        emit("question", data, callback=answered)

    @socketio.on("ticks")
    def on_ticks(count: int) -> str:
        sid = request.sid

        def ticker() -> None:
            for n in range(count):
                socketio.emit("tick", n, to=sid)
                socketio.sleep(0.02)

        socketio.start_background_task(ticker)
        return "started"

    @socketio.on("order")
    def on_order(n: int) -> None:
        emit("ordered", n)  # a chat app's "message in, message out"

    @socketio.on("block")
    def on_block(key: str) -> bool:
        signals["blocked:" + key].set()
        return signals["release:" + key].wait(HANDLER_WAIT)

    @socketio.on("is_blocked")
    def on_is_blocked(key: str) -> bool:
        return signals["blocked:" + key].wait(HANDLER_WAIT)

    @socketio.on("release")
    def on_release(key: str) -> str:
        signals["release:" + key].set()
        return "released"

    @socketio.on("slow_ack")
    def on_slow_ack() -> str:
        # acknowledges only once its client has gone (query ?tag=KEY)
        key = request.args["tag"]
        signals["started:" + key].set()
        gone = signals["gone:" + key].wait(HANDLER_WAIT)
        signals["returned:" + key].set()
        return f"too late (client gone: {gone})"

    @socketio.on("slow_ack_started")
    def on_slow_ack_started(key: str) -> bool:
        return signals["started:" + key].wait(HANDLER_WAIT)

    @socketio.on("slow_ack_status")
    def on_slow_ack_status(key: str) -> dict[str, bool]:
        return {
            "returned": signals["returned:" + key].wait(HANDLER_WAIT),
            "gone": signals["gone:" + key].is_set(),
        }

    @socketio.on("*")
    def catch_all(event: str, *args: Any) -> dict[str, Any]:
        emit("caught", {"event": event, "args": list(args)})
        return {"caught": event}

    # ------------------------------------------------------------- /chat (decorators)

    @socketio.on("connect", namespace="/chat")
    def chat_connect() -> None:
        emit("chat_welcome", request.namespace)

    @socketio.on("say", namespace="/chat")
    def chat_say(text: str) -> None:
        emit("said", {"text": text, "namespace": request.namespace}, broadcast=True)

    @socketio.on("fail", namespace="/chat")
    def chat_fail() -> None:
        raise KeyError("chat failure")

    @socketio.on_error("/chat")
    def chat_error(e: Exception) -> str:
        emit("chat_error", {"error": type(e).__name__, "message": request.event["message"]})
        return "chat handled"

    # ------------------------------------------------------------- /private (Flask-Login)

    @socketio.on("connect", namespace="/private")
    def private_connect() -> bool:
        return bool(current_user.is_authenticated)

    @socketio.on("secret", namespace="/private")
    @authenticated_only
    def private_secret() -> str:
        return f"secret for {current_user.id}"

    # ------------------------------------------------------------- /ns (class-based)

    socketio.on_namespace(EchoNamespace("/ns"))
    return app, socketio


_mode = os.environ.get("SW_FLASK_ASYNC_MODE")  # "gevent" under gevent_launcher.py
app, socketio = create_app(
    ping_interval=2, ping_timeout=4, **({"async_mode": _mode} if _mode else {})
)

if __name__ == "__main__":
    # run() options merge with the constructor's (the suite checks the handshake)
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), max_http_buffer_size=500_000)
