"""What the transports serve besides Engine.IO: static files, a wrapped ASGI app, 404s; and the
``socketwire run`` command line (plain and TLS). Real loopback sockets, both transports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
import uvicorn

import socketwire

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def other_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A tiny ASGI app standing for Flask/FastAPI/Starlette."""
    if scope["type"] != "http":
        return
    message = await receive()
    body = b"other:" + scope["path"].encode() + b":" + message.get("body", b"")
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-other", b"1")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "assets" / "index.html").write_text("assets index")
    (tmp_path / "secret.txt").write_text("do not serve")
    return tmp_path


@contextlib.asynccontextmanager
async def serve(app: Any, mode: str) -> AsyncIterator[str]:
    port = free_port()
    if mode == "native":
        server = await socketwire.create_server(app, HOST, port)
        try:
            yield f"http://{HOST}:{port}"
        finally:
            server.close()
            await server.wait_closed()
        return
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off")
    userver = uvicorn.Server(config)
    task = asyncio.ensure_future(userver.serve())
    try:
        for _ in range(200):
            if userver.started:
                break
            await asyncio.sleep(0.025)
        assert userver.started, "uvicorn did not start"
        yield f"http://{HOST}:{port}"
    finally:
        userver.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("mode", ["native", "asgi"])
async def test_static_files_other_app_and_socketio_together(site: Path, mode: str) -> None:
    sio = socketwire.AsyncServer()

    @sio.on("ping")
    def ping(sid: str) -> str:
        return "pong"

    app = socketwire.ASGIApp(
        sio,
        other_asgi_app=other_app,
        static_files={"/": str(site / "index.html"), "/static": str(site / "assets")},
    )
    async with serve(app, mode) as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/") as r:
            assert (r.status, await r.text()) == (200, "<h1>home</h1>")
            assert r.headers["Content-Type"].startswith("text/html")
        async with http.get(url + "/static/app.js") as r:
            assert (r.status, await r.text()) == (200, "console.log(1)")
        async with http.get(url + "/static/") as r:
            assert await r.text() == "assets index"
        # climbing out of a mapped directory goes to the other app, never to the file
        async with http.get(url + "/static/%2e%2e/secret.txt") as r:
            assert "do not serve" not in await r.text()
        async with http.post(url + "/api/items", data=b"payload") as r:
            assert r.status == 201 and r.headers["x-other"] == "1"
            assert await r.text() == "other:/api/items:payload"
        client = socketio.AsyncClient()
        await client.connect(url, transports=["websocket"], wait_timeout=5)
        try:
            assert await client.call("ping", timeout=5) == "pong"
        finally:
            await client.disconnect()


@pytest.mark.parametrize("mode", ["native", "asgi"])
async def test_unknown_path_is_404(mode: str) -> None:
    app = socketwire.ASGIApp(socketwire.AsyncServer())
    async with serve(app, mode) as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/nothing/here") as r:
            assert r.status == 404


@pytest.mark.parametrize("mode", ["native", "asgi"])
async def test_custom_socketio_path(mode: str) -> None:
    sio = socketwire.AsyncServer()
    app = socketwire.ASGIApp(sio, socketio_path="/rt/io")
    async with serve(app, mode) as url:
        client = socketio.AsyncClient()
        await client.connect(url, socketio_path="/rt/io", wait_timeout=5)
        assert client.connected
        await client.disconnect()
        async with (
            aiohttp.ClientSession() as http,
            http.get(url + "/socket.io/?EIO=4&transport=polling") as r,
        ):
            assert r.status == 404


APP_MODULE = """
import socketwire
sio = socketwire.AsyncServer()

@sio.on("who")
def who(sid):
    return "cli"
"""


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("server did not start")


@pytest.fixture
def cli_app(tmp_path: Path) -> Path:
    (tmp_path / "cli_app.py").write_text(APP_MODULE)
    return tmp_path


async def test_command_line_serves_module_attr(cli_app: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socketwire",
            "run",
            "cli_app:sio",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=cli_app,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, _wait_port, port, proc)
        client = socketio.AsyncClient()
        await client.connect(f"http://{HOST}:{port}", wait_timeout=5)
        assert await client.call("who", timeout=5) == "cli"
        await client.disconnect()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


async def test_command_line_tls(cli_app: Path) -> None:
    cert, key = cli_app / "cert.pem", cli_app / "key.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        timeout=60,
    )
    if made.returncode != 0:
        pytest.skip("openssl is not available to make a test certificate")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socketwire",
            "run",
            "cli_app:sio",
            "--host",
            HOST,
            "--port",
            str(port),
            "--ssl-certfile",
            str(cert),
            "--ssl-keyfile",
            str(key),
        ],
        cwd=cli_app,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, _wait_port, port, proc)
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"https://{HOST}:{port}/socket.io/?EIO=4&transport=polling", ssl=context) as r,
        ):
            assert r.status == 200 and (await r.text()).startswith("0{")
        with pytest.raises(aiohttp.ClientError):  # plain HTTP on a TLS port fails
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://{HOST}:{port}/socket.io/?EIO=4&transport=polling") as r,
            ):
                await r.read()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def test_cli_http_limits(tmp_path: Path) -> None:
    """``--limit-concurrency`` and ``--timeout-keep-alive`` reach the native server."""
    (tmp_path / "limited.py").write_text("import socketwire\nsio = socketwire.AsyncServer()\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "socketwire", "run", "limited:sio", "--port", str(port),
         "--limit-concurrency", "1", "--timeout-keep-alive", "1", "--log-level", "error"],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                first = socket.create_connection((HOST, port), timeout=5)
                break
            except OSError:
                proc.poll()
                assert proc.returncode is None, "the server exited"
                time.sleep(0.05)
        with first:
            first.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
            assert first.recv(12) == b"HTTP/1.1 200"
            with socket.create_connection((HOST, port), timeout=5) as second:
                assert second.recv(12) == b"HTTP/1.1 503"
            data = b""
            while chunk := first.recv(65536):  # closed after 1 s idle
                data += chunk
            assert b"HTTP/1.1" not in data
    finally:
        proc.terminate()
        proc.wait(timeout=10)
