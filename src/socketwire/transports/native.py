"""socketwire's own HTTP/WebSocket server on asyncio: the embedded default and fast path.

One :class:`HttpProtocol` per TCP connection parses HTTP/1.1 with httptools (C), answers the
Engine.IO path through the server's driver, serves static files, and hands other paths to
the wrapped ASGI app. After a WebSocket handshake the same object becomes the WebSocket:
frames are parsed by :class:`socketwire.ws.FrameParser` and written with the frame cached on
each outgoing packet, so a broadcast's bytes are built once for all recipients.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import ssl as ssl_module
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import httptools

from .. import ws
from ..driver import ThreadDriver
from ..engineio.core import PollWait, Response, Session, WebSocketAccept
from ..engineio.packet import OutPacket
from . import routing
from .asgi import ASGIApp
from .http_limits import DeadlineWheel, HttpLimits
from .static import CHUNK_SIZE, StaticFile
from .wsgi import WSGIApp

__all__ = ["HttpProtocol", "NativeServer", "create_server", "run", "serve"]

logger = logging.getLogger("socketwire.server")
#: one line per answered request, when ``access_log`` is on
access_logger = logging.getLogger("socketwire.access")

#: requests handed to the wrapped ASGI app, kept referenced until they finish
_background: set[asyncio.Future[None]] = set()

_REASONS = {status.value: status.phrase for status in HTTPStatus}


def _plain(status: int, text: bytes) -> Response:
    return Response(status, [("Content-Type", "text/plain")], text)


def _head(status: int, headers: list[tuple[str, str]], length: int, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    for name, value in headers:
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {length}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpProtocol(asyncio.Protocol):
    __slots__ = (
        "_addresses",
        "_body",
        "_body_limit",
        "_body_size",
        "_busy",
        "_closed",
        "_current",
        "_drain_waiter",
        "_draining",
        "_driver",
        "_frames",
        "_handover",
        "_head_size",
        "_headers",
        "_in_head",
        "_limits",
        "_loop",
        "_loop_thread",
        "_outq",
        "_parser",
        "_pending",
        "_poll",
        "_read_paused",
        "_registry",
        "_session",
        "_split_memo",
        "_url",
        "_url_parts",
        "_wheel",
        "_write_paused",
        "app",
        "deadline",
        "scheme",
        "transport",
    )

    def __init__(
        self,
        app: routing.Mount,
        scheme: str = "http",
        registry: Connections | None = None,
    ) -> None:
        self.app = app
        self._registry = registry if registry is not None else Connections()
        self._limits = getattr(self._registry, "limits", None) or HttpLimits()
        self._wheel: DeadlineWheel | None = None
        #: when the client's time is up (0: no deadline; see http_limits.DeadlineWheel)
        self.deadline = 0.0
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._url_parts: list[bytes] = []
        #: the request head is being read, and how many bytes of it came so far
        self._in_head = True
        self._head_size = 0
        #: reading is paused: too many pipelined requests, or the client is not reading
        self._read_paused = False
        self._draining = False
        #: the request being answered (method, URL), for the access log
        self._current: tuple[str, bytes] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._body_limit = 0
        self._busy = False  # a request is being answered; later ones wait (no pipelining)
        self._pending: list[tuple[Any, ...]] = []
        self._poll: tuple[Any, Any] | None = None  # (driver, respond) of a parked poll
        self._frames: ws.FrameParser | None = None
        self._session: Session | None = None
        self._closed = False
        #: the transport's buffer is over its high-water mark (the client is not reading)
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._driver: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        #: output handed over by other threads (threaded servers), in order; None = close
        self._outq: list[bytes | None] = []
        self._handover: _Handover | None = None
        #: (client, server) socket addresses, asked once per connection
        self._addresses: tuple[Any, Any] | None = None
        #: the last URL split into (path, query): asked for limits, then for routing
        self._split_memo: tuple[bytes, tuple[str, str]] = (b"", ("/", ""))

    # ----------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        registry = self._registry
        cap = self._limits.limit_concurrency
        if cap is not None and len(registry) >= cap:
            logger.warning("over limit_concurrency (%d connections): 503", cap)
            self._reply(_plain(503, b"Service Unavailable"), False)
            return
        registry.add(self)
        if isinstance(registry, Connections):
            if registry.handover is None:
                registry.handover = _Handover(loop)
            if registry.wheel is None:
                registry.wheel = DeadlineWheel(loop)
            self._handover = registry.handover
            self._wheel = registry.wheel
        else:
            self._handover = _Handover(loop)
            self._wheel = DeadlineWheel(loop)
        self._wheel.set(self, self._limits.header_timeout)  # its first request's head

    def deadline_passed(self) -> None:
        """The client took too long: to send a request head or the next piece of a
        body (408), or to start another request on an idle keep-alive connection."""
        if self._closed or self._frames is not None or self._busy:
            return
        if self._in_head and self._head_size == 0:
            self._closed = True  # idle: nothing to answer
            if self.transport is not None:
                self.transport.close()
            return
        self._reply(_plain(408, b"Request Timeout"), False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.deadline = 0.0
        self.resume_writing()  # wakes a paused download so it ends
        self._registry.discard(self)
        if self._frames is not None and self._session is not None:
            self._driver.ws_closed(self._session, self)
        elif self._poll is not None:
            driver, respond = self._poll
            self._poll = None
            if self._session is not None:
                driver.poll_aborted(self._session, respond)

    def data_received(self, data: bytes) -> None:
        if self._frames is not None:
            self._ws_data(data)
            return
        if self._closed:
            return
        if self._in_head:
            # counted here, before httptools buffers it: a huge header costs one read
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade(data[offset:])
            return
        except httptools.HttpParserError:
            self._reply(_plain(400, b"Bad Request"), False)
            return
        if self._in_head and self._head_size > self._limits.max_header_size:
            self._reply(_plain(431, b"Request Header Fields Too Large"), False)

    # ----------------------------------------------------------- httptools callbacks

    def on_message_begin(self) -> None:
        self._url_parts = []
        self._headers = {}
        self._body = []
        self._body_size = 0
        if not self._in_head:
            self._in_head = True
            self._head_size = 0
        if self._wheel is not None:
            self._wheel.set(self, self._limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url_parts.append(url)  # a list: appending to bytes would copy quadratically

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = headers[key] + "," + text if key in headers else text

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._url = b"".join(self._url_parts)
        headers = self._headers
        length = headers.get("content-length")
        has_body = "transfer-encoding" in headers or (
            length is not None and length.isdigit() and int(length) > 0
        )
        limit = self._limit()
        if limit is None:
            # nothing here takes a body: answer now rather than read (and hold) it
            limit = 0
            if has_body:
                self._reply(_plain(404, b"Not Found"), False)
                return
        self._body_limit = limit
        if length is not None and length.isdigit() and int(length) > limit:
            self._too_big()
            return
        if self._wheel is not None:
            self._wheel.set(self, self._limits.body_timeout if has_body else None)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._body_limit:
            self._too_big()
            return
        self._body.append(body)
        wheel = self._wheel
        timeout = self._limits.body_timeout
        if wheel is not None and timeout is not None:
            if self._loop is not None and self.deadline - self._loop.time() < timeout / 2:
                wheel.set(self, timeout)  # moved only now and then: it files an entry

    def on_message_complete(self) -> None:
        self.deadline = 0.0  # the request is in; answering it has its own timeouts
        self._in_head = True  # what comes next is the head of another request
        self._head_size = 0
        if self._closed or self._parser.should_upgrade():
            return  # an upgrade is answered by _upgrade, once the parser hands it over
        request = (
            self._parser.get_method().decode("latin-1"),
            self._url,
            self._headers,
            b"".join(self._body),
            self._parser.should_keep_alive(),
        )
        if self._busy or self._pending:
            self._pending.append(request)
            if len(self._pending) >= self._limits.max_pipelined:
                self._pause_reading()
        else:
            self._handle(*request)

    # ----------------------------------------------------------- HTTP

    def _engine_server(self) -> Any:
        """The server the request being parsed is for (None: static files, other app)."""
        try:
            path, _ = self._split(self._url)
        except httptools.HttpParserInvalidURLError:
            return None
        return self.app.route(path)

    def _limit(self) -> int | None:
        """The body size the request being parsed may have, or None when nothing here
        would read a body (no Engine.IO server at its path, no wrapped app)."""
        server = self._engine_server()
        if server is not None:
            return int(server.driver.engine.max_http_buffer_size)
        if self.app.fallback() is not None:
            return self._limits.max_app_body_size
        return None

    def _too_big(self) -> None:
        server = self._engine_server()
        if server is None:
            response = Response(413, [("Content-Type", "text/plain")], b"Payload Too Large")
        else:
            path, query = self._split(self._url)
            method = self._parser.get_method().decode("latin-1")
            request = self._engine_request(method, path, query, self._headers)
            response = server.driver.payload_too_large(request)
        self._reply(response, False)

    def _split(self, url: bytes) -> tuple[str, str]:
        memo = self._split_memo
        if memo[0] == url and url:
            return memo[1]
        parsed = httptools.parse_url(url)
        path = (parsed.path or b"/").decode("latin-1")
        query = (parsed.query or b"").decode("latin-1")
        self._split_memo = (url, (path, query))
        return path, query

    def _engine_request(self, method: str, path: str, query: str, headers: dict[str, str]) -> Any:
        if self._addresses is None:
            transport = self.transport
            self._addresses = (
                transport.get_extra_info("peername") if transport else None,
                transport.get_extra_info("sockname") if transport else None,
            )
        client, server = self._addresses

        def environ() -> dict[str, Any]:
            return routing.wsgi_environ(
                method,
                path,
                query,
                headers,
                tuple(client[:2]) if client else None,
                tuple(server[:2]) if server else None,
                self.scheme,
            )

        return routing.make_request(method, query, headers, environ, self.scheme)

    def _handle(
        self, method: str, url: bytes, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> None:
        self._current = (method, url)
        try:
            path, query = self._split(url)
        except httptools.HttpParserInvalidURLError:
            self._reply(Response(400, [], b"Bad Request"), False)
            return
        server = self.app.route(path)
        if server is not None:
            self._busy = True
            driver = server.driver

            def respond(response: Response) -> None:
                if threading.get_ident() != self._loop_thread:
                    # a threaded server answers from its own threads
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(respond, response)
                    return
                self._poll = None
                self._reply(response, keep_alive)

            result = driver.handle_http(
                self._engine_request(method, path, query, headers), body, respond
            )
            if isinstance(result, PollWait):
                self._poll = (driver, respond)
                self._session = result.session
            return
        if method in ("GET", "HEAD"):
            static = self.app.static(path)
            if static is not None:
                self._busy = True
                self._send_static(static, method, headers, keep_alive)
                return
        fallback = self.app.fallback()
        if fallback is not None:
            self._busy = True
            kind, other = fallback
            runner = self._asgi if kind == "asgi" else self._wsgi
            task = asyncio.ensure_future(
                runner(other, method, path, query, headers, body, keep_alive)
            )
            _background.add(task)
            task.add_done_callback(_background.discard)
            return
        self._busy = True
        self._reply(Response(404, [("Content-Type", "text/plain")], b"Not Found"), keep_alive)

    def _reply(self, response: Response, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        transport.write(
            _head(response.status, response.headers, len(response.body), keep_alive) + response.body
        )
        if self._registry.access_log:
            self._access(response.status)
        self._answered(keep_alive)

    def _access(self, status: int) -> None:
        """One access-log line (``access_log=True``), as uvicorn writes them."""
        peer = self.transport.get_extra_info("peername") if self.transport else None
        method, url = self._current or ("-", b"-")
        host, port = peer[:2] if peer else ("-", "-")
        access_logger.info(
            '%s:%s - "%s %s HTTP/1.1" %d', host, port, method, url.decode("latin-1"), status
        )

    def _answered(self, keep_alive: bool) -> None:
        """The response in progress is written: close, or take the next queued request."""
        self._busy = False
        if not keep_alive:
            self._closed = True
            self.deadline = 0.0
            if self.transport is not None:
                self.transport.close()
            return
        self._next_request()

    def _next_request(self) -> None:
        """Answer queued pipelined requests, one after another (a loop, not recursion:
        a request answered at once would otherwise nest the next one's call)."""
        if self._draining:
            return  # the loop below, further up the stack, goes on
        self._draining = True
        try:
            while self._pending and not self._busy and not self._closed:
                if self._write_paused:
                    return  # resume_writing() comes back here
                self._handle(*self._pending.pop(0))
        finally:
            self._draining = False
        if self._closed or self._busy:
            return
        if self._read_paused and not self._write_paused:
            self._read_paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        if not self._pending and self._frames is None and self._wheel is not None:
            self._wheel.set(self, self._limits.keep_alive_timeout)

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None and not self._closed:
            self._read_paused = True
            self.transport.pause_reading()

    def _send_static(
        self, static: StaticFile, method: str, headers: dict[str, str], keep_alive: bool
    ) -> None:
        status, out, with_body = static.answer(method, headers)
        if self._registry.access_log:
            self._access(status)
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines += [f"{name}: {value}" for name, value in out]
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not with_body or static.size <= CHUNK_SIZE:
            # the usual page or asset: one read, one write
            try:
                body = next(static.chunks(), b"") if with_body else b""
            except OSError:
                self._reply(Response(404, [], b"Not Found"), keep_alive)
                return
            if self.transport is not None and not self._closed:
                self.transport.write(head + body)
                self._answered(keep_alive)
            return
        task = asyncio.ensure_future(self._stream_static(static, head, keep_alive))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _stream_static(self, static: StaticFile, head: bytes, keep_alive: bool) -> None:
        """A large file, a chunk at a time, each written once the client has taken the
        previous ones (``pause_writing``): memory stays at a few chunks per download."""
        loop = asyncio.get_running_loop()
        chunks = static.chunks()
        transport = self.transport
        try:
            if transport is None or self._closed:
                return
            transport.write(head)
            while not self._closed:
                await self._writable()
                chunk = await loop.run_in_executor(None, next, chunks, b"")
                if not chunk or self._closed:
                    break
                transport.write(chunk)
        except OSError:
            logger.warning("static file %s: read failed mid-response", static.path)
            keep_alive = False  # the announced length cannot be kept
        finally:
            chunks.close()
        if not self._closed:
            self._answered(keep_alive)

    async def _writable(self) -> None:
        while self._write_paused and not self._closed:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
            await waiter

    # flow control (asyncio calls these as the transport's buffer crosses its marks): a
    # client that does not read what it is sent is not read from either
    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if not self._closed and not self._busy:
            self._next_request()

    async def _asgi(
        self,
        other: Any,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        """Run the wrapped ASGI app for one plain HTTP request."""
        transport = self.transport
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": self.scheme,
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "client": transport.get_extra_info("peername")[:2] if transport else None,
            "server": transport.get_extra_info("sockname")[:2] if transport else None,
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no more events until the connection ends
            return {"type": "http.disconnect"}

        status = 500
        out_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, out_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                out_headers = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-length"
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await other(scope, receive, send)
        except Exception:
            logger.exception("error in the wrapped ASGI application")
            self._reply(Response(500, [], b"Internal Server Error"), False)
            return
        self._reply(Response(status, out_headers, b"".join(chunks)), keep_alive)

    async def _wsgi(
        self,
        other: Any,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        """Run the wrapped WSGI app (Flask, Django) for one request, in a worker thread."""
        transport = self.transport
        client = transport.get_extra_info("peername") if transport else None
        server = transport.get_extra_info("sockname") if transport else None
        environ = routing.wsgi_environ(
            method,
            path,
            query,
            headers,
            tuple(client[:2]) if client else None,
            tuple(server[:2]) if server else None,
            self.scheme,
            {
                "wsgi.version": (1, 0),
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
                "CONTENT_LENGTH": str(len(body)),
            },
        )
        try:
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(None, _call_wsgi, other, environ)
        except Exception:
            logger.exception("error in the wrapped WSGI application")
            self._reply(Response(500, [], b"Internal Server Error"), False)
            return
        self._reply(response, keep_alive)

    # ----------------------------------------------------------- WebSocket

    def _upgrade(self, rest: bytes) -> None:
        method = self._parser.get_method().decode("latin-1")
        headers = self._headers
        try:
            path, query = self._split(self._url)
        except httptools.HttpParserInvalidURLError:
            self._reply(Response(400, [], b"Bad Request"), False)
            return
        server = self.app.route(path)
        problem = ws.handshake_error(headers)
        if server is None or method != "GET" or problem is not None:
            self._reply(
                Response(
                    400, [("Content-Type", "text/plain")], (problem or "Bad Request").encode()
                ),
                False,
            )
            return
        driver = server.driver
        refused: list[Response] = []
        result = driver.handle_http(
            self._engine_request(method, path, query, headers), b"", refused.append
        )
        if not isinstance(result, WebSocketAccept):
            response = refused[0] if refused else Response(400, [], b"Bad Request")
            self._reply(response, False)
            return
        self._current = (method, self._url)
        if self._registry.access_log:
            self._access(101)
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {ws.accept_key(headers['sec-websocket-key'])}",
        ]
        lines += [f"{name}: {value}" for name, value in result.headers]
        assert self.transport is not None
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.deadline = 0.0  # the Engine.IO heartbeat watches it from now on
        self._driver = driver
        self._session = result.session
        self._frames = ws.FrameParser(driver.engine.max_http_buffer_size)
        driver.ws_attached(result, self)
        if rest:
            self._ws_data(rest)

    def _ws_data(self, data: bytes) -> None:
        frames = self._frames
        session = self._session
        if frames is None or session is None or self._closed:
            return
        code = self._driver.ws_data(session, self, frames, data, self._write)
        if code is not None:
            self._ws_close(code)
            self._driver.ws_closed(session, self)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    def _ws_close(self, code: int) -> None:
        if not self._closed and self.transport is not None:
            self.transport.write(ws.close_frame(code))
            self._closed = True
            self.transport.close()

    # WebSocketHandle, for the driver
    def send_packets(self, packets: list[OutPacket]) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        frame_for = ws.frame_for
        if len(packets) == 1:
            packet = packets[0]
            data = packet.ws_frame or frame_for(packet)  # a broadcast's is already there
        else:
            data = b"".join([frame_for(packet) for packet in packets])
        if self._outq or threading.get_ident() != self._loop_thread:
            self._hand_over(data)
        else:
            transport.write(data)

    def close(self) -> None:
        if self._outq or threading.get_ident() != self._loop_thread:
            self._hand_over(None)
        else:
            self._ws_close(1000)

    def throttle(self, on: bool) -> None:
        """Stop reading this WebSocket while its client has too many handlers waiting,
        and read it again once they drop (any thread)."""
        if threading.get_ident() != self._loop_thread:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.throttle, on)
            return
        transport = self.transport
        if transport is None or self._closed:
            return
        if on:
            transport.pause_reading()
        elif not self._read_paused:
            transport.resume_reading()

    def backlog(self) -> int:
        transport = self.transport
        queued = self._outq
        held = sum(len(item) for item in queued if item) if queued else 0
        return held + (transport.get_write_buffer_size() if transport is not None else 0)

    def abort(self) -> None:
        """A slow consumer: drop what is buffered for it and close now (``close()`` would
        keep the buffer until the client reads it, which it does not)."""
        if threading.get_ident() != self._loop_thread:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.abort)
            return
        self._outq = []
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    def _hand_over(self, item: bytes | None) -> None:
        """Output from a thread other than the loop's (a threaded server): queued in order
        and written by the loop (see :class:`_Handover`)."""
        handover = self._handover
        if handover is None:
            return  # never connected
        with handover.lock:
            self._outq.append(item)
            if len(self._outq) == 1:
                handover.add(self)

    def _write_handed_over(self, items: list[bytes | None]) -> None:
        """On the loop: what :meth:`_hand_over` queued, in order, in one write (a close
        ends it)."""
        if None in items:
            self._write(b"".join(items[: items.index(None)]))  # type: ignore[arg-type]
            self._ws_close(1000)
        elif len(items) == 1:
            self._write(items[0])  # type: ignore[arg-type]
        else:
            self._write(b"".join(items))  # type: ignore[arg-type]

    def shutdown(self) -> None:
        """The server is stopping."""
        if self._frames is not None:
            self._ws_close(1001)
        elif self.transport is not None and not self._closed:
            self._closed = True
            self.transport.close()


# ------------------------------------------------------------------ server entry points


def _as_app(app: Any) -> routing.Mount:
    """What to serve: an ``ASGIApp``/``WSGIApp`` as is; a bare server wrapped in the one
    matching its runtime."""
    if isinstance(app, routing.Mount):
        return app
    # a Flask app with socketwire.flask's SocketIO, or that SocketIO object
    socketio = getattr(app, "extensions", {}).get("socketio") if _is_flask(app) else app
    mount = getattr(socketio, "__socketwire_mount__", None)
    if mount is not None:
        return mount(app if socketio is not app else None)  # type: ignore[no-any-return]
    driver = getattr(app, "driver", None)
    if isinstance(driver, ThreadDriver):
        return WSGIApp(app)
    if driver is not None:
        return ASGIApp(app)
    raise TypeError(
        f"cannot serve {app!r}: expected a socketwire server, ASGIApp, WSGIApp, or a Flask "
        "app with socketwire.flask.SocketIO (or that SocketIO object)"
    )


def _is_flask(app: Any) -> bool:
    return any(cls.__module__ == "flask.app" for cls in type(app).__mro__)


def _ssl_context(certfile: str | None, keyfile: str | None) -> ssl_module.SSLContext | None:
    if not certfile:
        return None
    context = ssl_module.create_default_context(ssl_module.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def _call_wsgi(app: Any, environ: dict[str, Any]) -> Response:
    state: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        state["status"] = int(status.split(" ", 1)[0])
        state["headers"] = [(k, v) for k, v in headers if k.lower() != "content-length"]
        return chunks.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Response(state.get("status", 500), state.get("headers", []), b"".join(chunks))


class _Handover:
    """Output that other threads (a threaded server's handlers) queued for the connections
    of one loop: ONE ``call_soon_threadsafe`` wakes the loop for all of them, so a
    broadcast from a worker thread costs a lock and an append per recipient, not a wakeup."""

    __slots__ = ("connections", "lock", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.connections: list[HttpProtocol] = []

    def add(self, connection: HttpProtocol) -> None:
        """Called with :attr:`lock` held, once per connection with queued output."""
        self.connections.append(connection)
        if len(self.connections) == 1:
            self.loop.call_soon_threadsafe(self._write)

    def _write(self) -> None:
        with self.lock:
            connections, self.connections = self.connections, []
            batches = []
            for connection in connections:
                batches.append((connection, connection._outq))
                connection._outq = []
        # written without the lock: a handler thread queueing more is never held up
        for connection, items in batches:
            connection._write_handed_over(items)


class Connections(set["HttpProtocol"]):
    """The open connections of one server, its HTTP limits and the one timer of their
    timeouts; :meth:`drained` waits until no connection is left."""

    def __init__(self, limits: HttpLimits | None = None, access_log: bool = False) -> None:
        super().__init__()
        self.access_log = access_log
        self._empty: asyncio.Event | None = None
        self.handover: _Handover | None = None
        self.limits = limits or HttpLimits()
        self.wheel: DeadlineWheel | None = None

    def discard(self, connection: object) -> None:
        super().discard(connection)
        if not self and self._empty is not None:
            self._empty.set()

    async def drained(self, timeout: float) -> None:
        if not self:
            return
        self._empty = asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout)


class NativeServer:
    """A running native server: the listening sockets and every open connection.

    ``close()`` stops listening and closes the connections (WebSockets get close code 1001,
    going away); ``wait_closed()`` returns once they are gone, so a stopped server leaves
    nothing half-open behind."""

    def __init__(self, server: asyncio.base_events.Server, connections: Connections):
        self._server = server
        self.connections = connections

    @property
    def sockets(self) -> Any:
        return self._server.sockets

    def close(self) -> None:
        self._server.close()
        for connection in list(self.connections):
            connection.shutdown()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
        await self.connections.drained(timeout=5)
        if self.connections.wheel is not None:
            self.connections.wheel.close()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def __aenter__(self) -> NativeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


async def create_server(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    sock: Any = None,
    reuse_port: bool = False,
    access_log: bool = False,
    **limits: Any,
) -> NativeServer:
    """Start serving ``app`` (a socketwire server, ``ASGIApp`` or ``WSGIApp``) on
    the running loop. ``limits`` are :class:`~socketwire.transports.http_limits.HttpLimits`
    fields (``max_header_size``, ``header_timeout``, ``body_timeout``,
    ``keep_alive_timeout``, ``max_pipelined``, ``limit_concurrency``,
    ``max_app_body_size``)."""
    options = dict(limits)
    http_limits = HttpLimits.from_options(options)
    if options:
        raise TypeError(f"unknown server options: {', '.join(sorted(options))}")
    asgi_app = _as_app(app)
    context = _ssl_context(ssl_certfile, ssl_keyfile)
    scheme = "https" if context else "http"
    connections = Connections(http_limits, access_log)

    def factory() -> HttpProtocol:
        return HttpProtocol(asgi_app, scheme, connections)

    loop = asyncio.get_running_loop()
    if sock is not None:
        server = await loop.create_server(factory, sock=sock, ssl=context)
    else:
        server = await loop.create_server(
            factory, host, port, ssl=context, reuse_port=reuse_port or None, backlog=2048
        )
    return NativeServer(server, connections)


async def serve(app: Any, host: str = "127.0.0.1", port: int = 5000, **kwargs: Any) -> None:
    """Serve ``app`` until cancelled."""
    server = await create_server(app, host, port, **kwargs)
    _as_app(app).start_managers()
    startup = getattr(_as_app(app), "on_startup", None)
    if startup is not None:
        result = startup()
        if asyncio.iscoroutine(result):
            await result
    scheme = "https" if kwargs.get("ssl_certfile") else "http"
    shown = f"[{host}]" if ":" in host else host
    logger.info("socketwire listening on %s:%s (%s://%s:%s/)", host, port, scheme, shown, port)
    async with server:
        await server.serve_forever()


def run(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str | None = None,
    use_uvloop: bool = True,
    access_log: bool = False,
    **limits: Any,
) -> None:
    """Run ``app`` on socketwire's native asyncio server until interrupted (uses uvloop
    when it is installed). ``limits``: the HTTP limits of :func:`create_server`."""
    unknown = dict(limits)
    HttpLimits.from_options(unknown)
    if unknown:  # a misspelt limit fails here, not inside the loop
        raise TypeError(f"unknown server options: {', '.join(sorted(unknown))}")
    if log_level:
        logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    main = serve(
        app,
        host,
        port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        access_log=access_log,
        **limits,
    )
    runner: Callable[[Any], Any] = asyncio.run
    if use_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    try:
        runner(main)
    except KeyboardInterrupt:
        pass
