"""Flask-SocketIO's own test suite and example app, unmodified, against socketwire.flask.

Both live beside the repository in ../shared/flask-socketio-suite (third-party code, never
committed here); these tests fail, not skip, when it is missing."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio

from conftest import REPO_ROOT, ServerProcess

SUITE = REPO_ROOT.parent / "shared" / "flask-socketio-suite"
WAIT = 10.0

pytestmark = pytest.mark.timeout(180)


def _require_suite() -> None:
    if not (SUITE / "run.sh").exists() or not (SUITE / "vendor" / "test_socketio.py").exists():
        pytest.fail(f"Flask-SocketIO's suite is missing: expected it in {SUITE}")


def test_flask_socketio_suite_passes_unmodified() -> None:
    _require_suite()
    result = subprocess.run(
        ["bash", str(SUITE / "run.sh"), sys.executable],
        capture_output=True,
        text=True,
        timeout=150,
    )
    counts = dict(
        (kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|error)", result.stdout)
    )
    failures = "\n".join(line for line in result.stdout.splitlines() if line.startswith("FAILED"))
    assert counts.get("passed") == 42 and not counts.get("failed") and not counts.get("error"), (
        f"{counts}\n{failures}\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    )


# ------------------------------------------------------------------ the example app


@pytest.fixture(scope="module")
def example() -> Iterator[ServerProcess]:
    _require_suite()
    server = ServerProcess("upstream-example", module="upstream_example_launcher")
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


class Peer:
    """A python-socketio client that keeps what it receives."""

    def __init__(self, url: str, transports: list[str]) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.got: list[dict[str, Any]] = []
        self.pongs = 0
        self.disconnected = threading.Event()
        self.cond = threading.Condition()
        self.sio.on("my_response", self._response)
        self.sio.on("my_pong", self._pong)
        self.sio.on("disconnect", lambda *a: self.disconnected.set())
        self.sio.connect(url, transports=transports, wait_timeout=WAIT)

    def _response(self, data: dict[str, Any]) -> None:
        with self.cond:
            self.got.append(data)
            self.cond.notify_all()

    def _pong(self) -> None:
        with self.cond:
            self.pongs += 1
            self.cond.notify_all()

    def wait_for(self, data: Any) -> dict[str, Any]:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(m["data"] == data for m in self.got), WAIT)
            assert ok, f"no my_response {data!r}; got {self.got}"
            return next(m for m in self.got if m["data"] == data)


@pytest.mark.parametrize(
    "transports", [["polling"], ["websocket"], ["polling", "websocket"]], ids=lambda t: "+".join(t)
)
def test_upstream_example_app(example: ServerProcess, transports: list[str]) -> None:
    page = requests.get(example.url + "/", timeout=WAIT)
    assert page.status_code == 200 and "threading" in page.text  # async_mode on the page

    a = Peer(example.url, transports)
    b = Peer(example.url, transports)
    try:
        assert a.wait_for("Connected")["count"] == 0
        if transports == ["polling", "websocket"]:
            with a.cond:
                assert a.cond.wait_for(lambda: a.sio.transport() == "websocket", WAIT)
        a.sio.emit("my_event", {"data": "hello"})
        assert a.wait_for("hello")["count"] == 1  # the forked session counts per client
        a.sio.emit("join", {"room": "r1"})
        # the client's own room first, then the joined one, as python-socketio lists them
        assert a.wait_for(f"In rooms: {a.sio.get_sid()}, r1")
        b.sio.emit("my_room_event", {"data": "to r1", "room": "r1"})
        assert a.wait_for("to r1")
        b.sio.emit("my_broadcast_event", {"data": "everyone"})
        assert a.wait_for("everyone") and b.wait_for("everyone")
        a.sio.emit("anything", {"x": 1})  # the catch-all handler
        assert a.wait_for(["anything", {"x": 1}])
        a.sio.emit("my_ping")
        with a.cond:
            assert a.cond.wait_for(lambda: a.pongs == 1, WAIT)
        a.sio.emit("close_room", {"room": "r1"})
        assert a.wait_for("Room r1 is closing.")
        # the server disconnects once the client acknowledged the last response
        a.sio.emit("disconnect_request")
        assert a.wait_for("Disconnected!")
        assert a.disconnected.wait(WAIT), "the server did not disconnect the client"
        b.sio.emit("my_event", {"data": "still here"})
        assert b.wait_for("still here")["count"] == 3  # room event, broadcast, this one
    finally:
        for peer in (a, b):
            peer.sio.disconnect()
