"""``ASGIApp``: serve a Socket.IO (or plain Engine.IO) server from any ASGI server
(uvicorn, hypercorn, granian), optionally wrapping another ASGI app and static files.

The same object describes an application to socketwire's native server (``socketwire.run``),
which serves the Engine.IO path and static files itself and hands other paths to
``other_asgi_app``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..engineio.core import PollWait, Response, WebSocketAccept
from ..engineio.packet import OutPacket
from . import routing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["ASGIApp"]


class ASGIApp(routing.Mount):
    """An ASGI application around ``socketio_server`` (an ``AsyncServer`` or
    ``AsyncEngineServer``), python-socketio's ``ASGIApp`` signature.

    ``static_files`` maps URL paths to files or directories (never anything outside them:
    see :mod:`socketwire.transports.static`; ``static_follow_symlinks=True`` lets symlinks
    inside a mapped folder lead elsewhere); ``other_asgi_app`` gets every other request;
    ``on_startup``/``on_shutdown`` run with the ASGI lifespan."""

    kind = "asgi"

    def __init__(
        self,
        socketio_server: Any,
        other_asgi_app: Any = None,
        static_files: dict[str, Any] | None = None,
        socketio_path: str | None = "socket.io",
        on_startup: Callable[[], Any] | None = None,
        on_shutdown: Callable[[], Any] | None = None,
        engineio_path: str | None = None,
        static_follow_symlinks: bool = False,
    ) -> None:
        super().__init__(
            socketio_server,
            other_asgi_app,
            static_files,
            engineio_path or socketio_path,
            static_follow_symlinks,
        )
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    @property
    def other_asgi_app(self) -> Any:
        return self.other

    _managers_started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._managers_started:  # the first call (lifespan, or a first request)
            self._managers_started = True
            self.start_managers()
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path = scope.get("path", "/")
        server = self.route(path)
        if server is not None:
            if kind == "http":
                await _http(server, scope, receive, send)
            elif kind == "websocket":
                await _websocket(server, scope, receive, send)
            return
        if kind == "http" and scope["method"] in ("GET", "HEAD"):
            static = self.static(path, decoded=True)
            if static is not None:
                await _send_file(static, scope, send)
                return
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await _respond(send, Response(404, [("Content-Type", "text/plain")], b"Not Found"))
        else:
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.other_asgi_app is not None
            and not isinstance(self.other_asgi_app, ASGIApp)
            and self.on_startup is None
            and self.on_shutdown is None
        ):
            await self.other_asgi_app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.on_startup is not None:
                    result = self.on_startup()
                    if asyncio.iscoroutine(result):
                        await result
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    result = self.on_shutdown()
                    if asyncio.iscoroutine(result):
                        await result
                await send({"type": "lifespan.shutdown.complete"})
                return


#: how long a parked poll waits before it watches for its client going away (seconds)
POLL_WATCH_DELAY = 1.0


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = headers[key] + "," + text if key in headers else text
    return headers


def _request(scope: Scope, method: str, headers: dict[str, str]) -> Any:
    query_string = scope.get("query_string", b"").decode("latin-1")
    scheme = scope.get("scheme", "http")

    def environ() -> dict[str, Any]:
        return routing.wsgi_environ(
            method,
            scope.get("path", "/"),
            query_string,
            headers,
            scope.get("client"),
            scope.get("server"),
            scheme,
            {"asgi.scope": scope},
        )

    return routing.make_request(method, query_string, headers, environ, scheme)


async def _respond(send: Send, response: Response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _send_file(static: routing.StaticFile, scope: Scope, send: Send) -> None:
    """Stream ``static`` a chunk at a time: the ASGI server's ``send`` waits while the
    client is not reading, so memory stays at one chunk per response."""
    status, headers, with_body = static.answer(scope["method"], _headers(scope))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    if not with_body:
        await send({"type": "http.response.body", "body": b""})
        return
    loop = asyncio.get_running_loop()
    chunks = static.chunks()
    try:
        while True:
            chunk = await loop.run_in_executor(None, next, chunks, b"")
            if not chunk:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        chunks.close()
    await send({"type": "http.response.body", "body": b""})


async def _http(server: Any, scope: Scope, receive: Receive, send: Send) -> None:
    driver = server.driver
    limit = driver.engine.max_http_buffer_size
    headers = _headers(scope)
    method = scope["method"]
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        await _respond(send, driver.payload_too_large(_request(scope, method, headers)))
        return
    chunks = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            await _respond(send, driver.payload_too_large(_request(scope, method, headers)))
            return
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    loop = asyncio.get_running_loop()
    #: the response, or None if the client went away first
    future: asyncio.Future[Response | None] = loop.create_future()

    def respond(response: Response | None) -> None:
        if not future.done():
            future.set_result(response)

    parked = driver.handle_http(_request(scope, method, headers), body, respond)
    if not future.done() and isinstance(parked, PollWait):
        # A parked poll: watch for the client going away, from POLL_WATCH_DELAY on. Most
        # polls are answered sooner, and a watcher (a task reading ``receive()``) costs a
        # busy polling client a fifth of its server time; a poll abandoned earlier is
        # answered at the latest with the next ping, into a connection that is gone.
        watchers: list[asyncio.Future[Any]] = []

        def watch() -> None:
            watcher = asyncio.ensure_future(receive())
            watcher.add_done_callback(lambda _: respond(None))
            watchers.append(watcher)

        timer = loop.call_later(POLL_WATCH_DELAY, watch)
        try:
            response = await future
        finally:
            timer.cancel()
            for watcher in watchers:
                watcher.cancel()
        if response is None:
            driver.poll_aborted(parked.session, respond)
            return
    else:
        response = await future
    assert response is not None
    await _respond(send, response)


class _ASGIWebSocket:
    """The driver's handle on an ASGI WebSocket. Packets queue here. The connection's reader
    drains the queue after each message it handled, so replies go out in order without a
    task switch; a writer task, started the first time output arrives while the reader is
    not handling a message (a broadcast, a timer), drains the rest. A connection that only
    answers its own messages never gets a writer task (nor its event)."""

    __slots__ = (
        "_busy",
        "_closed",
        "_closing",
        "_queue",
        "_queued",
        "_send",
        "_wakeup",
        "_writer",
        "reading",
        "resumed",
    )

    def __init__(self, send: Send) -> None:
        self._queue: collections.deque[OutPacket] = collections.deque()
        self._queued = 0  # the size of what is in the queue
        self._send = send
        self._closing = False
        self._closed = False  # the close frame went out
        self._busy = False  # a drain is sending: it also sends what arrives meanwhile
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Future[None] | None = None
        #: the reader is handing a message to the driver and drains the queue right after
        self.reading = False
        #: set while the client's messages may be read (cleared by ``throttle``)
        self.resumed: asyncio.Event | None = None

    def send_packets(self, packets: list[OutPacket]) -> None:
        self._queue.extend(packets)
        self._queued += sum(len(packet.data) for packet in packets)
        if not self.reading:
            self._wake()

    def close(self) -> None:
        self._closing = True
        if not self.reading:
            self._wake()

    def backlog(self) -> int:
        return self._queued

    def throttle(self, on: bool) -> None:
        """Stop reading this client's messages while too many of its handlers wait; the
        ASGI server then stops reading the socket once its own small buffer is full."""
        if self.resumed is None:
            self.resumed = asyncio.Event()
        if on:
            self.resumed.clear()
        else:
            self.resumed.set()

    def abort(self) -> None:
        """A slow consumer: what is queued is dropped; the close goes out next."""
        self._queue.clear()
        self._queued = 0
        self.close()

    def _wake(self) -> None:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            self._writer = asyncio.ensure_future(self._write_loop(self._wakeup))
        self._wakeup.set()

    async def drain(self) -> bool:
        """Send what is queued, then the close frame if closing; False once it is closed.
        One drain at a time: another one in progress sends this output too, in order."""
        if self._busy:
            return not self._closed
        self._busy = True
        try:
            queue = self._queue
            send = self._send
            while queue:
                data = queue.popleft().data
                self._queued -= len(data)
                if isinstance(data, str):
                    await send({"type": "websocket.send", "text": data})
                else:
                    await send({"type": "websocket.send", "bytes": data})
            if self._closing and not self._closed:
                self._closed = True
                await send({"type": "websocket.close", "code": 1000})
        finally:
            self._busy = False
        return not self._closed

    async def _write_loop(self, wakeup: asyncio.Event) -> None:
        try:
            while not self._closed:
                await wakeup.wait()
                wakeup.clear()
                await self.drain()
        except Exception:  # the socket went away under us; the reader reports it
            return

    async def finish(self) -> None:
        """The reader is done: send what is left and the close frame, stop the writer."""
        self._closing = True
        if self._writer is not None:
            self._wake()
            await self._writer
        else:
            with contextlib.suppress(Exception):  # the peer may be gone already
                await self.drain()


def _too_big(data: str | bytes, limit: int) -> bool:
    """``max_http_buffer_size`` counts bytes; a text message is encoded only when its
    length in characters leaves the answer open (UTF-8 takes at most 4 bytes a character)."""
    if len(data) > limit:
        return True
    if isinstance(data, str) and len(data) * 4 > limit:
        return len(data.encode("utf-8")) > limit
    return False


async def _websocket(server: Any, scope: Scope, receive: Receive, send: Send) -> None:
    driver = server.driver
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    headers = _headers(scope)
    headers.setdefault("upgrade", "websocket")
    refused: list[Response] = []
    accept = driver.handle_http(_request(scope, "GET", headers), b"", refused.append)
    if not isinstance(accept, WebSocketAccept):
        if refused and "websocket.http.response" in scope.get("extensions", {}):
            # The Engine.IO error status and body, as the native server answers them.
            response = refused[0]
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
                    ],
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008})
        return
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in accept.headers]
    await send({"type": "websocket.accept", "headers": extra})
    session = accept.session
    handle = _ASGIWebSocket(send)
    handle.reading = True  # what attaching produces (the open packet) is drained here
    try:
        driver.ws_attached(accept, handle)
    finally:
        handle.reading = False
    limit = driver.engine.max_http_buffer_size
    try:
        if (handle._queue or handle._closing) and not await handle.drain():
            return
        while True:
            resumed = handle.resumed
            if resumed is not None and not resumed.is_set():
                await resumed.wait()
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                data: str | bytes = text if text is not None else message.get("bytes") or b""
                if _too_big(data, limit):
                    handle.close()
                    break
                handle.reading = True
                try:
                    driver.ws_message(session, handle, data, defer=False)  # replies sent below
                finally:
                    handle.reading = False
                if (handle._queue or handle._closing) and not await handle.drain():
                    break
            elif kind == "websocket.disconnect":
                break
    except Exception:  # the socket failed under us (reset, closed while sending)
        pass
    finally:
        driver.ws_closed(session, handle)
        await handle.finish()
