"""Sanic integration: ``sio.attach(app)`` serves an ``AsyncServer`` inside a ``sanic.Sanic``
application, as python-socketio's ``async_mode='sanic'`` does. Long-polling goes through a
streamed route (the body is read up to ``max_http_buffer_size``, then refused with 413);
WebSocket through Sanic's own WebSocket protocol (its handshake, its frames), on the same
path."""

from __future__ import annotations

import asyncio
from typing import Any

from ..engineio.core import PollWait, Response, WebSocketAccept
from . import routing
from .aiohttp import QueuedWebSocket

__all__ = ["attach"]

_METHODS = ("GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD")


def attach(server: Any, app: Any, socketio_path: str = "socket.io") -> None:
    """Route ``socketio_path`` of Sanic ``app`` to ``server``."""
    path = routing.mount_path(socketio_path) or "/socket.io/"

    async def handler(request: Any) -> Any:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if headers.get("upgrade", "").lower() == "websocket":
            return await _websocket(server, request, headers)
        return await _http(server, request, headers)

    # Sanic insists on a response from a plain route; this one may have turned into a
    # WebSocket (its own handshake), after which there is none to give.
    handler.is_websocket = True  # type: ignore[attr-defined]
    app.add_route(
        handler,
        path,
        methods=_METHODS,
        name=f"socketwire{path.replace('/', '_')}",
        strict_slashes=False,
        stream=True,
    )
    app.enable_websocket()


def _request(request: Any, headers: dict[str, str]) -> Any:
    query_string = request.query_string
    scheme = request.scheme

    def environ() -> dict[str, Any]:
        peer = (request.ip, request.port) if request.ip else None
        return routing.wsgi_environ(
            request.method,
            request.path,
            query_string,
            headers,
            peer,
            None,
            scheme,
            {"sanic.request": request},
        )

    return routing.make_request(request.method, query_string, headers, environ, scheme)


def _to_sanic(response: Response) -> Any:
    from sanic.compat import Header
    from sanic.response import HTTPResponse

    return HTTPResponse(
        response.body, status=response.status, headers=Header(list(response.headers))
    )


async def _read_body(request: Any, limit: int) -> bytes | None:
    """The body, or None once it is over ``limit`` (not read further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    stream = request.stream
    if stream is None:
        return request.body or b""
    chunks = []
    size = 0
    while True:
        chunk = await stream.read()
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _http(server: Any, request: Any, headers: dict[str, str]) -> Any:
    driver = server.driver
    body = await _read_body(request, driver.engine.max_http_buffer_size)
    if body is None:
        return _to_sanic(driver.payload_too_large(_request(request, headers)))
    future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

    def respond(response: Response) -> None:
        if not future.done():
            future.set_result(response)

    parked = driver.handle_http(_request(request, headers), body, respond)
    try:
        return _to_sanic(await future)
    except asyncio.CancelledError:  # the client went away while its poll was parked
        if isinstance(parked, PollWait):
            driver.poll_aborted(parked.session, respond)
        raise


async def _websocket(server: Any, request: Any, headers: dict[str, str]) -> Any:
    driver = server.driver
    refused: list[Response] = []
    accept = driver.handle_http(_request(request, headers), b"", refused.append)
    if not isinstance(accept, WebSocketAccept):
        response = _to_sanic(refused[0] if refused else Response(400, [], b"Bad Request"))
        await request.respond(response)
        await response.send(end_stream=True)
        return None
    protocol = request.transport.get_protocol()
    protocol.websocket_max_size = driver.engine.max_http_buffer_size
    ws = await protocol.websocket_handshake(request)
    session = accept.session
    handle = QueuedWebSocket(ws.send, ws.close)
    writer = asyncio.ensure_future(handle.writer())
    driver.ws_attached(accept, handle)
    try:
        while True:
            try:
                message = await ws.recv()
            except Exception:  # closed, or a protocol error: the connection is over
                break
            if message is None:
                break
            driver.ws_message(session, handle, message)
            if not handle.resumed.is_set():
                await handle.resumed.wait()
    finally:
        driver.ws_closed(session, handle)
        handle.close()
        await writer
    return None
