"""Runs the chat example as a real subprocess on a free port (shared by the chat tests).

A module with its own name rather than conftest.py helpers: several conftest.py files in
the test tree share the module name "conftest", so importing from one is ambiguous.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT_APP = REPO_ROOT / "examples" / "chat" / "app.py"
SERVER_START_TIMEOUT = 20.0


@dataclass
class ChatServer:
    url: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError as exc:
            return f"<no server log: {exc}>"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"chat app exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"chat app did not listen on port {port} within {timeout}s"
                ) from None
            time.sleep(0.05)  # polling interval of a bounded wait, not a guess


def start_chat_app(log_dir: Path, *extra_args: str) -> Iterator[ChatServer]:
    port = free_port()
    log_path = log_dir / "chat-app.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(CHAT_APP), "--port", str(port), *extra_args],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = ChatServer(f"http://127.0.0.1:{port}", port, log_path, proc)
    try:
        try:
            wait_for_port(port, proc, SERVER_START_TIMEOUT)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}\n--- chat app log ---\n{server.log_tail()}")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
