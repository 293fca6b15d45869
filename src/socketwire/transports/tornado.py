"""Tornado integration: ``get_tornado_handler(sio)`` is a request handler class serving an
``AsyncServer`` (or ``AsyncEngineServer``) inside a ``tornado.web.Application``, as
python-socketio's ``async_mode='tornado'`` does::

    app = tornado.web.Application([(r"/socket.io/", socketwire.get_tornado_handler(sio))])

The handler only moves bytes: HTTP long-polling requests (any method; the core answers the
ones it does not serve) and the WebSocket transport through Tornado's ``WebSocketHandler``.
Every protocol decision is the core's, CORS and the ``Origin`` check included, so Tornado's
own origin checks (``check_origin``, ``cross_origin_protection``, ``xsrf_cookies``) are turned
off for this handler. ``max_http_buffer_size`` bounds a request body (refused with 413 from
its ``Content-Length``, or as soon as a streamed body passes it) and a WebSocket message
(Tornado closes the socket with 1009). Tornado's ``websocket_ping_interval`` and compression
settings still apply to the socket; Engine.IO keeps its own heartbeat.

tornado is imported only when :func:`get_tornado_handler` is called.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..engineio.core import PollWait, Request, Response, WebSocketAccept
from ..engineio.packet import OutPacket
from . import routing

if TYPE_CHECKING:
    import tornado.websocket

__all__ = ["get_tornado_handler"]


def get_tornado_handler(socketio_server: Any) -> type[tornado.websocket.WebSocketHandler]:
    """A Tornado handler class serving ``socketio_server`` (python-socketio's
    ``socketio.get_tornado_handler``). Route it at the server's path, usually
    ``r"/socket.io/"``."""
    return _handler_class(socketio_server)


def _handler_class(server: Any) -> type[tornado.websocket.WebSocketHandler]:
    import tornado.web
    import tornado.websocket

    global _ClosedError
    _ClosedError = tornado.websocket.WebSocketClosedError
    driver = server.driver
    managers_started = False

    def start_managers() -> None:
        # A message-queue manager subscribes on the running loop: the first request's.
        nonlocal managers_started
        if not managers_started:
            managers_started = True
            manager = getattr(server, "manager", None)
            if manager is not None:
                manager.start()

    @tornado.web.stream_request_body
    class SocketIOHandler(tornado.websocket.WebSocketHandler):
        """Engine.IO over HTTP long-polling and WebSocket for one server."""

        _chunks: list[bytes]
        _size: int
        #: the response is out (or the client left): nothing more to do for this request
        _answered: bool
        _respond: Callable[[Response | None], None] | None
        _parked: PollWait | None
        _accept: WebSocketAccept | None
        _handle: _TornadoWebSocket | None

        def initialize(self) -> None:
            self._chunks = []
            self._size = 0
            self._answered = False
            self._respond = None
            self._parked = None
            self._accept = None
            self._handle = None

        # ---------------------------------------------------------- HTTP

        def prepare(self) -> None:
            start_managers()
            length = self.request.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > self.max_message_size:
                self._too_large()  # answered before the body is read

        def data_received(self, chunk: bytes) -> None:
            if self._answered:
                return
            self._size += len(chunk)
            if self._size > self.max_message_size:
                self._chunks = []
                self._too_large()  # Tornado closes the connection once this is written
                return
            self._chunks.append(chunk)

        async def get(self, *args: Any, **kwargs: Any) -> None:
            headers = self.request.headers
            if headers.get("Upgrade", "").lower() == "websocket" and not _handshake_ok(headers):
                # Not a handshake Tornado can complete: it answers (400 or 426), and the
                # core, which would open a session for it, never hears of it.
                await super().get(*args, **kwargs)
                return
            await self._serve(args, kwargs)

        async def post(self, *args: Any, **kwargs: Any) -> None:
            await self._serve(args, kwargs)

        async def options(self, *args: Any, **kwargs: Any) -> None:
            await self._serve(args, kwargs)

        async def head(self, *args: Any, **kwargs: Any) -> None:
            await self._serve(args, kwargs)

        async def put(self, *args: Any, **kwargs: Any) -> None:
            await self._serve(args, kwargs)

        async def delete(self, *args: Any, **kwargs: Any) -> None:
            await self._serve(args, kwargs)

        async def patch(self, *args: Any, **kwargs: Any) -> None:
            await self._serve(args, kwargs)

        async def _serve(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if self._answered:
                return
            body = b"".join(self._chunks)
            self._chunks = []
            future: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

            def respond(response: Response | None) -> None:
                if not future.done():
                    future.set_result(response)

            self._respond = respond
            outcome = driver.handle_http(self._core_request(), body, respond)
            if isinstance(outcome, WebSocketAccept):
                if self.request.method == "GET":
                    await self._upgrade(outcome, args, kwargs)
                else:  # an Upgrade header on another method: no handshake to complete
                    self._went(outcome)
                    self._send(Response(400, [], b"Bad Request"))
                return
            if isinstance(outcome, PollWait) and not future.done():
                self._parked = outcome
            response = await future
            self._parked = None
            if response is not None:  # None: the client left while its poll was parked
                self._send(response)

        def on_connection_close(self) -> None:
            if self._accept is not None:  # a WebSocket: Tornado's bookkeeping, then on_close
                super().on_connection_close()
                return
            # Fails a streamed body still being read, so Tornado ends the request.
            tornado.web.RequestHandler.on_connection_close(self)
            self._answered = True
            parked, respond = self._parked, self._respond
            self._parked = None
            if respond is not None:
                respond(None)
                if parked is not None:
                    driver.poll_aborted(parked.session, respond)

        def _too_large(self) -> None:
            self._send(driver.payload_too_large(self._core_request()))

        def _send(self, response: Response) -> None:
            self._answered = True
            self.set_status(response.status)
            self.clear_header("Content-Type")
            seen: set[str] = set()
            for name, value in response.headers:
                key = name.lower()
                if key in seen:
                    self.add_header(name, value)
                else:
                    seen.add(key)
                    self.set_header(name, value)
            if response.body:
                self.write(response.body)
            self.finish()

        def _core_request(self) -> Request:
            request = self.request
            headers: dict[str, str] = {}
            for name, value in request.headers.get_all():
                key = name.lower()
                headers[key] = headers[key] + "," + value if key in headers else value
            query_string = request.query
            scheme = request.protocol
            method = request.method or "GET"

            def environ() -> dict[str, Any]:
                address = getattr(request.connection, "context", None)
                address = getattr(address, "address", None)
                port = address[1] if isinstance(address, tuple) and len(address) > 1 else 0
                client = (request.remote_ip, port) if request.remote_ip else None
                return routing.wsgi_environ(
                    method,
                    request.path,
                    query_string,
                    headers,
                    client,
                    None,
                    scheme,
                    {"tornado.handler": self},
                )

            return routing.make_request(method, query_string, headers, environ, scheme)

        def compute_etag(self) -> str | None:
            return None  # polling responses are never cached; no hash of every body

        # ---------------------------------------------------------- the core decides these

        def check_origin(self, origin: str) -> bool:
            return True

        def check_trusted_origin(self, origin: str) -> bool:
            return True

        def check_xsrf_cookie(self) -> None:
            return None

        # ---------------------------------------------------------- WebSocket

        @property
        def max_message_size(self) -> int:
            return int(driver.engine.max_http_buffer_size)

        async def _upgrade(
            self, accept: WebSocketAccept, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> None:
            self._accept = accept
            for name, value in accept.headers:
                self.add_header(name, value)
            await super().get(*args, **kwargs)
            if self._handle is None:  # the handshake failed after the core accepted it
                self._went(accept)

        def _went(self, accept: WebSocketAccept) -> None:
            """Tell the core an accepted socket came and went, so a session it opened for
            it is closed now rather than at its ping timeout."""
            handle = _TornadoWebSocket(self)
            handle.closed = True
            driver.ws_attached(accept, handle)
            driver.ws_closed(accept.session, handle)

        def open(self, *args: Any, **kwargs: Any) -> None:
            accept = self._accept
            assert accept is not None
            self.set_nodelay(True)  # small frames; no wait for a delayed ACK
            handle = self._handle = _TornadoWebSocket(self)
            driver.ws_attached(accept, handle)

        def on_message(self, message: str | bytes) -> Awaitable[Any] | None:
            handle = self._handle
            if handle is not None and not handle.closed and self._accept is not None:
                driver.ws_message(self._accept.session, handle, message)
                if not handle.resumed.is_set():
                    # Tornado reads the next message once this resolves.
                    return handle.resumed.wait()
            return None

        def on_close(self) -> None:
            handle = self._handle
            if handle is not None and not handle.closed and self._accept is not None:
                handle.closed = True
                driver.ws_closed(self._accept.session, handle)

    return SocketIOHandler


def _handshake_ok(headers: Any) -> bool:
    """What Tornado checks before completing a WebSocket handshake."""
    connection = {part.strip().lower() for part in headers.get("Connection", "").split(",")}
    return (
        "upgrade" in connection
        and headers.get("Sec-WebSocket-Version") == "13"
        and bool(headers.get("Sec-WebSocket-Key"))
    )


#: tornado.websocket.WebSocketClosedError, once tornado is imported
_ClosedError: type[Exception] = Exception


def _retrieve(future: asyncio.Future[None]) -> None:
    """A write that failed because the socket went away: its reader reports the close."""
    if not future.cancelled():
        future.exception()


class _TornadoWebSocket:
    """The driver's handle on a Tornado WebSocket. Tornado queues each frame on the
    connection's stream as it is written, so packets go out in order without a writer task."""

    __slots__ = ("_handler", "_queued", "_written", "closed", "resumed")

    def __init__(self, handler: tornado.websocket.WebSocketHandler) -> None:
        self._handler = handler
        #: the socket is closed or closing: write nothing more, report the close once
        self.closed = False
        #: bytes handed to Tornado's stream and not yet on the socket
        self._queued = 0
        self._written = self._wrote  # one bound method for every write's callback
        #: set while the client's messages may be read (cleared by ``throttle``)
        self.resumed = asyncio.Event()
        self.resumed.set()

    def send_packets(self, packets: list[OutPacket]) -> None:
        if self.closed:
            return
        write = self._handler.write_message
        try:
            for packet in packets:
                data = packet.data
                future = write(data, binary=not isinstance(data, str))
                size = len(data)
                self._queued += size
                future.add_done_callback(functools.partial(self._written, size))
        except _ClosedError:
            pass  # on_close reports it

    def _wrote(self, size: int, future: asyncio.Future[None]) -> None:
        self._queued -= size
        _retrieve(future)

    def close(self) -> None:
        self.resumed.set()
        self._handler.close()

    def abort(self) -> None:
        """A slow consumer: what Tornado holds for it is dropped with the connection."""
        self.resumed.set()
        self.closed = True
        stream = getattr(self._handler.ws_connection, "stream", None)
        if stream is not None:
            stream.close()
        else:
            self._handler.close()

    def throttle(self, on: bool) -> None:
        """Stop reading this client's messages while too many of its handlers wait."""
        if on:
            self.resumed.clear()
        else:
            self.resumed.set()

    def backlog(self) -> int:
        """What was written to Tornado and is still in its stream's buffer."""
        return self._queued
