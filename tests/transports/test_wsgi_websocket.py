"""WebSocket under a threaded WSGI server (Werkzeug): framing errors and oversized messages
close the socket with the right code, and other clients carry on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import aiohttp
import pytest
from werkzeug.serving import make_server

import socketwire

HOST = "127.0.0.1"


@pytest.fixture
def wsgi_url() -> Iterator[str]:
    sio = socketwire.Server(max_http_buffer_size=1000)

    @sio.on("echo")
    def echo(sid: str, text: str) -> str:
        return text

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    server = make_server(HOST, port, socketwire.WSGIApp(sio), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://{HOST}:{port}/socket.io/?EIO=4&transport=websocket"
    finally:
        sio.shutdown()
        server.shutdown()
        thread.join(10)


async def open_client(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url)
    assert (await asyncio.wait_for(ws.receive_str(), 5)).startswith("0")
    await ws.send_str("40")
    assert (await asyncio.wait_for(ws.receive_str(), 5)).startswith("40")
    return ws


@pytest.mark.parametrize(
    ("send", "code"),
    [
        ("oversized", 1009),
        ("bad-utf8", 1007),
    ],
)
async def test_bad_frames_close_with_their_code(wsgi_url: str, send: str, code: int) -> None:
    async with aiohttp.ClientSession() as http:
        good = await open_client(http, wsgi_url)
        bad = await open_client(http, wsgi_url)
        if send == "oversized":
            await bad.send_str('42["echo","' + "x" * 2000 + '"]')
        else:
            await bad._writer.send_frame(b"\xff\xfe", aiohttp.WSMsgType.TEXT)  # type: ignore[union-attr]
        message = await asyncio.wait_for(bad.receive(), 5)
        while message.type == aiohttp.WSMsgType.TEXT:  # pings may come first
            message = await asyncio.wait_for(bad.receive(), 5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert bad.close_code == code
        await good.send_str('421["echo","still here"]')
        reply = await asyncio.wait_for(good.receive_str(), 5)
        while reply == "2":
            await good.send_str("3")
            reply = await asyncio.wait_for(good.receive_str(), 5)
        assert reply == '431["still here"]'
        await good.close()
