"""The message queue in every deployment Flask-SocketIO's documents describe beyond plain
threads: a Flask app with ``SocketIO(app, message_queue=redis_url)`` served under gevent and
eventlet (monkey-patched first, ``socketio.run``), uWSGI (gevent loop and threads), and
gunicorn's gevent, gevent-websocket and eventlet workers; a real client joins a room; the
app emits to it from a background task through Redis, and an external process
(``SocketIO(message_queue=url)`` without an app, here the test) emits to it too."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio as socketio_client
from tests.cluster.conftest import _need
from tests.interop.conftest import gunicorn_25

from socketwire.flask import SocketIO

pytestmark = pytest.mark.timeout(120)

APPS = Path(__file__).parent / "apps"
URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(
    params=[
        "gevent",
        "eventlet",
        "uwsgi",
        "uwsgi-threads",
        "gunicorn-gevent",
        "gunicorn-geventwebsocket",
        "gunicorn-eventlet",
    ]
)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    _need("Redis", "127.0.0.1", 6379)
    mode = request.param
    port = free_port()
    channel = "green-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "SW_QUEUE_URL": URL, "SW_QUEUE_CHANNEL": channel}
    if mode.startswith("uwsgi"):
        loop = ["--threads", "100"] if mode == "uwsgi-threads" else ["--gevent", "1000"]
        command = [
            str(Path(sys.executable).parent / "uwsgi"), "--http", f"127.0.0.1:{port}",
            *loop, "--http-websockets", "--master", "--wsgi-file",
            "queue_app.py", "--callable", "app", "--die-on-term",
        ]  # fmt: skip
    elif mode.startswith("gunicorn"):
        worker = {
            "gunicorn-gevent": "gevent",
            "gunicorn-geventwebsocket": "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "gunicorn-eventlet": "eventlet",
        }[mode]
        if mode == "gunicorn-eventlet":  # gunicorn 25.x, the last with that worker
            env["PYTHONPATH"] = str(gunicorn_25())
        command = [
            sys.executable, "-m", "gunicorn", "-k", worker, "-w", "1",
            "-b", f"127.0.0.1:{port}", "queue_app:app",
        ]  # fmt: skip
    else:
        command = [sys.executable, "queue_app.py", mode, str(port)]
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=APPS, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield mode, f"http://127.0.0.1:{port}", channel
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def until_received(got: queue.Queue[Any], expected: str, send: Any) -> None:
    """``send()`` until ``expected`` arrives (20 s at most); a late copy of an earlier
    message (sent again by an earlier call of this) is skipped."""
    deadline = time.monotonic() + 20
    while True:
        assert send() is not False
        try:
            while got.get(timeout=1) != expected:
                pass
            return
        except queue.Empty:
            assert time.monotonic() < deadline, f"{expected!r} never arrived"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_queue_under_green_threads(served: tuple[str, str, str], transport: str) -> None:
    mode, url, channel = served
    got: queue.Queue[Any] = queue.Queue()
    client = socketio_client.Client(reconnection=False)
    client.on("relayed", got.put)
    client.connect(url, transports=[transport], wait_timeout=10)
    try:
        expected = {
            "gevent": "gevent",
            "eventlet": "eventlet",
            "uwsgi": "gevent_uwsgi",
            "uwsgi-threads": "threading",
            "gunicorn-gevent": "gevent",
            "gunicorn-geventwebsocket": "gevent",
            "gunicorn-eventlet": "eventlet",
        }[mode]
        assert client.call("join", "room1", timeout=10) == expected
        # Repeated until it arrives, within a bound: a worker's subscription to the queue may
        # still be starting when the first message goes out.
        until_received(
            got,
            "from the app",
            lambda: client.call("relay", ("room1", "from the app"), timeout=10) == "queued",
        )
        external = SocketIO(message_queue=URL, channel=channel)  # "an external process"
        until_received(
            got, "from outside", lambda: external.emit("relayed", "from outside", to="room1")
        )
    finally:
        client.disconnect()
