"""The README's first example, as a newcomer copies it: the script and its page, served by
``socketwire run``, with python-socketio's client as the browser."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import socketio

ROOT = Path(__file__).resolve().parents[1]
WAIT = 10.0

pytestmark = pytest.mark.timeout(60)


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    usage = text[text.index("## Using it") :]
    return re.findall(rf"```{language}\n(.*?)```", usage, re.S)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_first_example_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(readme_blocks("python")[0])
    (tmp_path / "index.html").write_text(readme_blocks("html")[0])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "socketwire", "run", "app:app", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                page = requests.get(url + "/", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the example did not start"
                time.sleep(0.05)
        assert page.status_code == 200 and "socket.io.min.js" in page.text

        refused = socketio.Client(reconnection=False)
        reasons: list[object] = []
        refused.on("connect_error", reasons.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(url, wait_timeout=WAIT)
        assert reasons and "unauthorized" in str(reasons[0])

        alice, bob = socketio.Client(reconnection=False), socketio.Client(reconnection=False)
        heard: list[dict[str, str]] = []
        bob.on("chat", heard.append)
        for c in (alice, bob):
            c.connect(url, auth={"token": "secret"}, wait_timeout=WAIT)
        try:
            assert alice.call("chat", "hello", timeout=WAIT) == "delivered"
            deadline = time.monotonic() + WAIT
            while not heard and time.monotonic() < deadline:
                time.sleep(0.02)
            assert heard == [{"from": alice.get_sid(), "text": "hello"}]
        finally:
            alice.disconnect()
            bob.disconnect()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
