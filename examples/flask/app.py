"""socketwire.flask example: a live dashboard with rooms, a background thread pushing data
every second, and a Flask-Login protected namespace.

    python examples/flask/app.py [--host 127.0.0.1] [--port 5000]

It is a Flask-SocketIO app: only the ``socketwire.flask`` import differs. Log in as
``admin`` / ``admin`` to reach the ``/admin`` namespace.
"""

from __future__ import annotations

import argparse
import functools
import random
import threading
import time
from pathlib import Path
from typing import Any

from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from flask import Flask, abort, redirect, render_template, request, send_file, url_for
from socketwire.flask import SocketIO, disconnect, emit, join_room, leave_room, rooms

HERE = Path(__file__).resolve().parent
USERS = {"admin": "admin", "alice": "wonderland"}
#: the official client bundle: `npm install` here, or the copy the test suite installs
CLIENT_BUNDLES = [
    HERE / "node_modules/socket.io-client/dist/socket.io.min.js",
    HERE.parents[1] / "tests/js/node_modules/socket.io-client/dist/socket.io.min.js",
]

app = Flask(__name__)
app.config["SECRET_KEY"] = "change me"
login_manager = LoginManager(app)
login_manager.login_view = "login"
socketio = SocketIO(app)


class User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


@login_manager.user_loader
def load_user(name: str) -> User | None:
    return User(name) if name in USERS else None


def authenticated_only(f: Any) -> Any:
    """Refuse events from clients that are not logged in."""

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            disconnect()
            return None
        return f(*args, **kwargs)

    return wrapped


# ----------------------------------------------------------------------------- HTTP


@app.route("/")
def index() -> str:
    return render_template("index.html", user=current_user)


@app.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        name = request.form.get("username", "")
        if USERS.get(name) == request.form.get("password"):
            login_user(User(name))
            return redirect(url_for("index"))
        error = "Wrong user name or password"
    return render_template("login.html", error=error)


@app.route("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("index"))


@app.route("/socket.io.min.js")
def client_bundle() -> Any:
    for bundle in CLIENT_BUNDLES:
        if bundle.is_file():
            return send_file(bundle, mimetype="application/javascript")
    abort(404, "run `npm install socket.io-client` in examples/flask")


# ----------------------------------------------------------------------------- ticker

ticker_lock = threading.Lock()
ticker_started = False


def ticker() -> None:
    """Push a new reading to everyone every second (socketio.emit works from any thread)."""
    n = 0
    value = 100.0
    while True:
        n += 1
        value = round(value + random.uniform(-2, 2), 2)
        socketio.emit("tick", {"n": n, "value": value, "time": time.strftime("%H:%M:%S")})
        socketio.sleep(1)


def start_ticker() -> None:
    global ticker_started
    with ticker_lock:
        if not ticker_started:
            ticker_started = True
            socketio.start_background_task(ticker)


# ----------------------------------------------------------------------------- rooms


@socketio.on("connect")
def on_connect() -> None:
    start_ticker()
    emit("hello", {"user": current_user.id if current_user.is_authenticated else None})


@socketio.on("join")
def on_join(data: dict[str, str]) -> list[str]:
    for room in rooms():
        if room != request.sid:
            leave_room(room)
    join_room(data["room"])
    emit("notice", f"{data['name']} joined {data['room']}", to=data["room"], include_self=False)
    return [room for room in rooms() if room != request.sid]


@socketio.on("say")
def on_say(data: dict[str, str]) -> str:
    emit("said", {"name": data["name"], "text": data["text"]}, to=data["room"])
    return "sent"


# ----------------------------------------------------------------------------- /admin


@socketio.on("connect", namespace="/admin")
def admin_connect() -> bool:
    return bool(current_user.is_authenticated and current_user.id == "admin")


@socketio.on("announce", namespace="/admin")
@authenticated_only
def announce(text: str) -> str:
    socketio.emit("announcement", {"text": text, "by": current_user.id})  # to everyone on '/'
    return "announced"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    socketio.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
