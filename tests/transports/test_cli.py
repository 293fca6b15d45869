"""The ``socketwire`` command line as a newcomer meets it: help with defaults, a bad target
as one clear line (exit status 2, no traceback), the startup line with the URL, and
``--reload``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import socketio

pytestmark = pytest.mark.timeout(60)

APP = """import socketwire
sio = socketwire.AsyncServer()
number = 3

@sio.on("version")
def version(sid):
    return "{version}"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socketwire", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_help_shows_defaults_in_plain_text(tmp_path: Path) -> None:
    top = cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and "``" not in top.stdout
    run = cli("run", "--help", cwd=tmp_path)
    assert run.returncode == 0
    for default in ("default: 127.0.0.1", "default: 5000", "default 16384", "default 5.0"):
        assert default in " ".join(run.stdout.split()), default


@pytest.mark.parametrize(
    "target, message",
    [
        ("nosuch:app", "no module named 'nosuch'"),
        ("app:nope", "module 'app' has no attribute 'nope'"),
        ("app:number", "cannot serve 3"),
        ("app", "expected module:attribute"),
    ],
)
def test_a_bad_target_is_one_line_and_exit_2(tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "app.py").write_text(APP.format(version="v1"))
    result = cli("run", target, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, lines


def ask_version(url: str) -> str | None:
    client = socketio.Client(reconnection=False)
    try:
        client.connect(url, transports=["websocket"], wait_timeout=2)
        return str(client.call("version", timeout=2))
    except (socketio.exceptions.ConnectionError, socketio.exceptions.TimeoutError):
        return None
    finally:
        client.disconnect()


def test_reload_restarts_on_a_change_and_prints_the_url(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP.format(version="v1"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "socketwire", "run", "app:sio", "--port", str(port), "--reload"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "listening on" in line:
                assert f"http://127.0.0.1:{port}/" in line
                break
        assert ask_version(url) == "v1"
        time.sleep(0.01)  # a distinct mtime for the edit below
        (tmp_path / "app.py").write_text(APP.format(version="v2"))
        deadline = time.monotonic() + 20
        while ask_version(url) != "v2":
            assert time.monotonic() < deadline, "the server was not reloaded"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("flag", [None, "--no-access-log"])
def test_access_log_on_by_default_and_off(tmp_path: Path, flag: str | None) -> None:
    (tmp_path / "app.py").write_text(APP.format(version="v1"))
    port = free_port()
    args = [sys.executable, "-m", "socketwire", "run", "app:sio", "--port", str(port)]
    proc = subprocess.Popen(
        [*args, *([flag] if flag else [])],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "listening on" in line:
                break
        assert ask_version(f"http://127.0.0.1:{port}") == "v1"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(12) == b"HTTP/1.1 404"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.stderr is not None
    rest = proc.stderr.read()
    proc.stderr.close()
    logged = '"GET /nothing HTTP/1.1" 404' in rest
    upgraded = 'HTTP/1.1" 101' in rest  # the WebSocket handshake
    assert logged == upgraded == (flag is None), rest
