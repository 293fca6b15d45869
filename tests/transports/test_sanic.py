"""``AsyncServer(async_mode='sanic')`` + ``sio.attach(app)`` (python-socketio's Sanic
examples): a real Sanic server started with ``app.run()`` in its own process, driven by
python-socketio's client over polling, WebSocket and the upgrade."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from tests.cluster.conftest import _need

import socketwire

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
APP = Path(__file__).parent / "apps" / "sanic_app.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sanic_server(log: Path, channel: str = "") -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SW_REDIS_CHANNEL": channel}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(APP), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            with socket.socket() as probe:
                if probe.connect_ex((HOST, port)) == 0:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"http://{HOST}:{port}"
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture(scope="module")
def sanic_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sanic_server(tmp_path_factory.mktemp("sanic") / "server.log") as url:
        yield url


async def test_sanic_with_a_redis_queue(tmp_path: Path) -> None:
    """With ``client_manager=AsyncRedisManager``: the app's broadcasts still arrive, and an
    external process's emit through Redis reaches the client."""
    _need("Redis", "127.0.0.1", 6379)
    channel = "sanic-" + uuid.uuid4().hex[:8]
    with sanic_server(tmp_path / "server.log", channel) as url:
        client = socketio.AsyncClient(reconnection=False)
        got: asyncio.Queue[Any] = asyncio.Queue()
        client.on("shouted", got.put_nowait)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        try:
            await client.emit("shout", "through redis")
            assert await asyncio.wait_for(got.get(), 10) == "through redis"
            emitter = socketwire.AsyncRedisManager(
                "redis://127.0.0.1:6379/0", channel=channel, write_only=True
            )
            await emitter.emit("shouted", "from outside")
            assert await asyncio.wait_for(got.get(), 10) == "from outside"
            await emitter.close()
        finally:
            await client.disconnect()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None])
async def test_sanic_app(sanic_url: str, transports: list[str] | None) -> None:
    async with aiohttp.ClientSession() as http, http.get(sanic_url + "/") as r:
        assert await r.text() == "sanic page"
    a = socketio.AsyncClient(reconnection=False)
    b = socketio.AsyncClient(reconnection=False)
    welcome: asyncio.Queue[Any] = asyncio.Queue()
    shouted: asyncio.Queue[Any] = asyncio.Queue()
    ticks: asyncio.Queue[Any] = asyncio.Queue()
    a.on("welcome", welcome.put_nowait)
    b.on("shouted", shouted.put_nowait)
    a.on("tick", ticks.put_nowait)
    a.on("question", lambda data: f"yes, {data}")
    try:
        await a.connect(sanic_url, transports=transports, auth={"k": 1}, wait_timeout=10)
        await b.connect(sanic_url, transports=transports, wait_timeout=10)
        assert await asyncio.wait_for(welcome.get(), 5) == {"auth": {"k": 1}}
        if transports is None:
            deadline = time.monotonic() + 5
            while a.transport() != "websocket":
                assert time.monotonic() < deadline, "never upgraded"
                await asyncio.sleep(0.05)
        assert await a.call("echo", {"n": 1}, timeout=5) == {"n": 1}
        blob = os.urandom(50_000)
        assert await a.call("echo", blob, timeout=5) == blob
        await a.emit("shout", "hello")
        assert await asyncio.wait_for(shouted.get(), 5) == "hello"
        assert await a.call("ask", timeout=5) == "yes, ready?"
        first = (await asyncio.wait_for(ticks.get(), 5))["count"]
        assert (await asyncio.wait_for(ticks.get(), 5))["count"] == first + 1
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_sanic_refuses_what_the_core_refuses(sanic_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"{sanic_url}/socket.io/?EIO=4&transport=polling"
        async with http.get(f"{base}&sid=nope") as r:
            assert r.status == 400
            assert await r.json() == {"code": 1, "message": "Session ID unknown"}
        async with http.get(base) as r:
            sid = (await r.text()).split('"sid":"')[1].split('"')[0]
        async with http.post(f"{base}&sid={sid}", data="4" + "x" * 200_000) as r:
            assert r.status == 413  # over max_http_buffer_size, refused unread
        ws_url = f"{sanic_url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=bad"
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(ws_url)
        async with http.get(sanic_url + "/") as r:  # still serving
            assert r.status == 200
