"""The documentation site (MkDocs, ``mkdocs.yml``): it builds with ``--strict`` (a broken
link, a missing page or an API reference that does not resolve fails), every sample it
includes from ``docs/samples/`` runs against a real client, and every other Python block in
it at least parses."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import runpy
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import socketio

import socketwire

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLES = DOCS / "samples"

pytestmark = pytest.mark.timeout(120)


async def client_event(got: asyncio.Queue[Any]) -> None:
    """Until ``got`` holds an event."""
    while got.empty():
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_site_builds_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    assert "enter_room" in reference and "SocketIOTestClient" in reference


def test_every_python_block_parses() -> None:
    blocks = 0
    for page in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            blocks += 1
            included = re.fullmatch(r'--8<-- "([^"]+)"\n', block)
            source = (ROOT / included.group(1)).read_text() if included else block
            ast.parse(source, filename=f"{page.name} block {blocks}")
    assert blocks >= 8


@pytest.mark.parametrize("sample", ["asyncio_chat", "threads_chat", "flask_chat"])
async def test_a_getting_started_sample_serves_the_client_sample(sample: str) -> None:
    module: dict[str, Any] = runpy.run_path(str(SAMPLES / f"{sample}.py"), run_name="sample")
    server = await socketwire.create_server(module["app"], "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SAMPLES / "client.py"),
            f"http://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        lines = out.decode().split()
        assert proc.returncode == 0, out.decode()
        assert "delivered" in lines, out.decode()  # the ack
        assert "hello" in out.decode()  # the broadcast back to the room
    finally:
        server.close()
        await server.wait_closed()


async def test_the_emitter_sample_reaches_a_client() -> None:
    from tests.cluster.conftest import _need

    _need("Redis", "127.0.0.1", 6379)
    channel = "docs-" + uuid.uuid4().hex[:8]
    emitter: dict[str, Any] = runpy.run_path(str(SAMPLES / "emitter.py"), run_name="sample")
    manager = socketwire.AsyncRedisManager(emitter["URL"], channel=channel)
    sio = socketwire.AsyncServer(client_manager=manager)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.enter_room(sid, "lobby")

    server = await socketwire.create_server(sio, "127.0.0.1", 0)
    client = socketio.AsyncClient(reconnection=False)
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("chat", got.put_nowait)
    try:
        await client.connect(
            f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", wait_timeout=10
        )
        # announce until one arrives: the server's subscription may still be starting
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while got.empty():
            assert loop.time() < deadline, "the emitter's message never arrived"
            await loop.run_in_executor(None, emitter["announce"], "maintenance", channel)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(client_event(got), 0.5)
        assert got.get_nowait() == {"from": "cron", "text": "maintenance"}
    finally:
        await client.disconnect()
        server.close()
        await server.wait_closed()
        await manager.close()
