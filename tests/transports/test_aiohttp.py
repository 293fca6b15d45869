"""``AsyncServer.attach(aiohttp_app)`` (python-socketio's ``async_mode='aiohttp'``): an aiohttp
application serving its own routes and Socket.IO, driven by python-socketio's client over
polling, WebSocket and the upgrade."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web

import socketwire

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None])
async def test_aiohttp_app(transports: list[str] | None) -> None:
    sio = socketwire.AsyncServer(max_http_buffer_size=10_000)
    app = web.Application()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="aiohttp page")

    app.router.add_get("/", index)
    sio.attach(app)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.enter_room(sid, "all")
        await sio.emit("welcome", {"auth": auth}, to=sid)

    @sio.on("echo")
    async def echo(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, HOST, port)
    await site.start()
    url = f"http://{HOST}:{port}"
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/") as r:
            assert await r.text() == "aiohttp page"
        c = socketio.AsyncClient()
        welcome: asyncio.Queue[Any] = asyncio.Queue()
        c.on("welcome", welcome.put_nowait)
        await c.connect(url, transports=transports, auth={"k": 1}, wait_timeout=5)
        assert await asyncio.wait_for(welcome.get(), 5) == {"auth": {"k": 1}}
        assert await c.call("echo", ("x", b"\x01\x02"), timeout=5) == ("x", b"\x01\x02")
        big = "y" * 20_000  # over max_http_buffer_size: the server drops this client
        gone = asyncio.Event()
        c.on("disconnect", lambda *args: gone.set())
        await c.emit("echo", big)
        await asyncio.wait_for(gone.wait(), 10)
        await c.disconnect()
    finally:
        await runner.cleanup()
