"""python-socketio's ``logger=`` / ``engineio_logger=``: True traces events, rooms and
packets on stderr with no logging set up by the app; a Logger receives the same lines;
False leaves the app's logging alone. ``run(log_level=)`` and the CLI's ``--log-level``
show the server's own lines, starting with where it listens. Each case runs in a fresh
interpreter, so the logging configuration is the one a real app starts with."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .test_async_server_api import free_port

pytestmark = pytest.mark.timeout(60)

#: a server with one handler, a python-socketio client that emits, joins and leaves
SCENARIO = """
import socketio, socketwire, threading, time
{setup}
sio = socketwire.Server({options})

@sio.event
def connect(sid, environ, auth):
    sio.enter_room(sid, "lobby")

@sio.on("echo")
def echo(sid, data):
    sio.emit("news", data, to="lobby")
    return data

threading.Thread(target=lambda: socketwire.run(sio, port={port}{run_args}), daemon=True).start()
client = socketio.Client(reconnection=False)
for _ in range(100):
    try:
        client.connect("http://127.0.0.1:{port}", transports=["{transport}"], wait_timeout=5)
        break
    except socketio.exceptions.ConnectionError:
        time.sleep(0.05)
assert client.call("echo", {{"n": 1}}, timeout=5) == {{"n": 1}}
client.disconnect()
"""


def run_scenario(
    options: str = "", setup: str = "", transport: str = "polling", run_args: str = ""
) -> str:
    code = SCENARIO.format(
        setup=setup, options=options, port=free_port(), transport=transport, run_args=run_args
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=45
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_logger_true_traces_like_python_socketio(transport: str) -> None:
    err = run_scenario("logger=True, engineio_logger=True", transport=transport)
    lines = err.splitlines()
    assert lines.count("Server initialized for threading.") == 2  # socket.io and engine.io
    for expected in (
        "is entering room lobby [/]",
        'received event "echo" from ',
        """emitting event "news" to ['lobby'] [/]""",
        ": Sending packet OPEN data {",
        ': Received packet MESSAGE data 21["echo",{"n":1}]',
        ': Sending packet MESSAGE data 31[{"n":1}]',
    ):
        assert any(expected in line for line in lines), f"{expected!r} not in:\n{err}"


def test_only_the_asked_logger_traces() -> None:
    err = run_scenario("logger=True")
    assert 'received event "echo"' in err
    assert "Sending packet" not in err
    err = run_scenario("engineio_logger=True")
    assert "Sending packet OPEN" in err
    assert "received event" not in err


def test_logger_false_leaves_the_apps_logging_alone() -> None:
    setup = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="APP %(name)s %(message)s"
        )
        logging.getLogger("socketwire").setLevel(logging.DEBUG)
        """
    )
    err = run_scenario("logger=False, engineio_logger=False", setup=setup)
    # nothing forced to ERROR: the server's own INFO lines reach the app's handler...
    assert "APP socketwire.server socketwire listening on 127.0.0.1:" in err
    # ...but the per-event trace is only written when asked for
    assert "received event" not in err and "Sending packet" not in err


def test_a_logger_instance_gets_the_trace() -> None:
    setup = textwrap.dedent(
        """
        import logging, sys
        mine = logging.getLogger("myapp.sio")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("MINE %(message)s"))
        mine.addHandler(handler)
        mine.setLevel(logging.INFO)
        """
    )
    err = run_scenario("logger=mine, engineio_logger=mine", setup=setup)
    assert "MINE Server initialized for threading." in err
    assert 'MINE received event "echo"' in err
    assert "MINE " in err and ": Received packet MESSAGE" in err


def test_run_log_level_shows_where_it_listens() -> None:
    err = run_scenario(run_args=', log_level="info"')
    assert "socketwire listening on 127.0.0.1:" in err


def test_cli_log_level_shows_where_it_listens(tmp_path: Path) -> None:
    (tmp_path / "cliapp.py").write_text("import socketwire\nsio = socketwire.AsyncServer()\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "socketwire", "run", "cliapp:sio", "--port", str(port),
         "--log-level", "debug"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "listening on" in line:
                break
        assert any(f"socketwire listening on 127.0.0.1:{port}" in line for line in seen), seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
