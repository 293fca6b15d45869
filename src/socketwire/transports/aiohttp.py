"""aiohttp integration: ``sio.attach(app)`` serves an ``AsyncServer`` inside an
``aiohttp.web.Application``, as python-socketio's ``async_mode='aiohttp'`` does."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

from ..engineio.core import PollWait, Response, WebSocketAccept
from ..engineio.packet import OutPacket
from . import routing

__all__ = ["QueuedWebSocket", "attach"]


def attach(server: Any, app: Any, socketio_path: str = "socket.io") -> None:
    """Route ``socketio_path`` of aiohttp ``app`` to ``server``."""
    from aiohttp import web

    path = routing.mount_path(socketio_path) or "/socket.io/"

    async def handler(request: web.Request) -> Any:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if headers.get("upgrade", "").lower() == "websocket":
            return await _websocket(server, request, headers)
        return await _http(server, request, headers)

    app.router.add_route("*", path, handler)
    app.router.add_route("*", path.rstrip("/"), handler)


def _request(request: Any, headers: dict[str, str]) -> Any:
    query_string = request.query_string
    scheme = request.scheme

    def environ() -> dict[str, Any]:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        return routing.wsgi_environ(
            request.method,
            request.path,
            query_string,
            headers,
            tuple(peer[:2]) if peer else None,
            None,
            scheme,
            {"aiohttp.request": request},
        )

    return routing.make_request(request.method, query_string, headers, environ, scheme)


def _to_web(response: Response) -> Any:
    from aiohttp import web

    out = web.Response(status=response.status, body=response.body)
    for name, value in response.headers:
        out.headers[name] = value
    return out


async def _http(server: Any, request: Any, headers: dict[str, str]) -> Any:
    driver = server.driver
    limit = driver.engine.max_http_buffer_size
    if request.content_length is not None and request.content_length > limit:
        return _to_web(driver.payload_too_large(_request(request, headers)))
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return _to_web(driver.payload_too_large(_request(request, headers)))
        chunks.append(chunk)
    future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

    def respond(response: Response) -> None:
        if not future.done():
            future.set_result(response)

    parked = driver.handle_http(_request(request, headers), b"".join(chunks), respond)
    try:
        return _to_web(await future)
    except asyncio.CancelledError:  # the client went away while its poll was parked
        if isinstance(parked, PollWait):
            driver.poll_aborted(parked.session, respond)
        raise


class QueuedWebSocket:
    """The driver's handle on a WebSocket of an asyncio framework (aiohttp, Sanic):
    packets queue here and one writer task sends them in order through ``send``; the
    reader waits on ``resumed`` while the client is throttled."""

    __slots__ = ("_close", "_closing", "_queue", "_queued", "_send", "_wakeup", "resumed")

    def __init__(
        self,
        send: Callable[[str | bytes], Awaitable[Any]],
        close: Callable[[], Awaitable[Any]],
    ) -> None:
        self._send = send
        self._close = close
        self._queue: collections.deque[OutPacket] = collections.deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        #: set while the client's messages may be read (cleared by ``throttle``)
        self.resumed = asyncio.Event()
        self.resumed.set()

    def throttle(self, on: bool) -> None:
        """Stop reading this client's messages while too many of its handlers wait; the
        framework then stops reading the socket once its own buffer is full."""
        if on:
            self.resumed.clear()
        else:
            self.resumed.set()

    def send_packets(self, packets: list[OutPacket]) -> None:
        self._queue.extend(packets)
        self._queued += sum(len(packet.data) for packet in packets)
        self._wakeup.set()

    def backlog(self) -> int:
        return self._queued

    def abort(self) -> None:
        self._queue.clear()
        self._queued = 0
        self.close()

    def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        self.resumed.set()  # a paused reader sees the close

    async def writer(self) -> None:
        queue = self._queue
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    data = queue.popleft().data
                    self._queued -= len(data)
                    await self._send(data)
                if self._closing:
                    await self._close()
                    return
        except Exception:  # the socket went away; the reader reports it
            return


async def _websocket(server: Any, request: Any, headers: dict[str, str]) -> Any:
    from aiohttp import WSMsgType, web

    driver = server.driver
    refused: list[Response] = []
    accept = driver.handle_http(_request(request, headers), b"", refused.append)
    if not isinstance(accept, WebSocketAccept):
        return _to_web(refused[0] if refused else Response(400, [], b"Bad Request"))
    ws = web.WebSocketResponse(max_msg_size=driver.engine.max_http_buffer_size, autoping=True)
    for name, value in accept.headers:
        ws.headers[name] = value
    await ws.prepare(request)
    session = accept.session

    async def send(data: str | bytes) -> None:
        if isinstance(data, str):
            await ws.send_str(data)
        else:
            await ws.send_bytes(data)

    handle = QueuedWebSocket(send, ws.close)
    writer = asyncio.ensure_future(handle.writer())
    driver.ws_attached(accept, handle)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                driver.ws_message(session, handle, message.data)
            elif message.type == WSMsgType.BINARY:
                driver.ws_message(session, handle, bytes(message.data))
            else:
                break
            if not handle.resumed.is_set():
                await handle.resumed.wait()
    finally:
        driver.ws_closed(session, handle)
        handle.close()
        await writer
    return ws
