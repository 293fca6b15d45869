"""``WSGIApp``: serve a threaded ``Server`` from a threaded WSGI server (gunicorn
``-k gthread``, Werkzeug's development server), wrapping the user's WSGI app (Flask, Django).

Long-polling requests are answered from the request thread (a parked poll waits on an
event). WebSocket needs the raw socket, which those servers expose in the environ
(``gunicorn.socket``, ``werkzeug.socket``): the handshake response goes out through the
server's own ``start_response``, then the request thread reads frames until the socket
closes. Output is queued by the core under its lock and written by whichever thread drains
the socket next, under the socket's own write lock.
"""

from __future__ import annotations

import collections
import contextlib
import socket as socket_module
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from .. import ws
from ..driver import ThreadDriver
from ..engineio.core import Response, WebSocketAccept
from ..engineio.packet import OutPacket
from . import routing

__all__ = ["Middleware", "WSGIApp"]

StartResponse = Callable[..., Callable[[bytes], object]]
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_RAW_SOCKET_KEYS = ("gunicorn.socket", "gunicorn.sock", "werkzeug.socket", "socketwire.socket")


class WSGIApp(routing.Mount):
    """A WSGI application around a :class:`socketwire.Server` (python-socketio's
    ``WSGIApp`` signature): Socket.IO at ``socketio_path``, ``static_files``, and every other
    request to ``wsgi_app``."""

    kind = "wsgi"

    def __init__(
        self,
        socketio_app: Any,
        wsgi_app: Any = None,
        static_files: dict[str, Any] | None = None,
        socketio_path: str | None = "socket.io",
        engineio_path: str | None = None,
        static_follow_symlinks: bool = False,
    ) -> None:
        super().__init__(
            socketio_app,
            wsgi_app,
            static_files,
            engineio_path or socketio_path,
            static_follow_symlinks,
        )

    @property
    def wsgi_app(self) -> Any:
        return self.other

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        server = self.route(path)
        if _will_close(environ):
            start_response = _closing(start_response)
        if server is not None:
            check_fork = getattr(server, "_check_fork", None)
            if check_fork is not None:
                check_fork()
            headers = _headers(environ)
            if headers.get("upgrade", "").lower() == "websocket":
                return _websocket(server, environ, headers, start_response)
            return _http(server, environ, headers, start_response)
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            static = self.static(_text_path(path), decoded=True)
            if static is not None:
                status, out, with_body = static.answer(method, _headers(environ))
                start_response(f"{status} {_REASONS.get(status, 'Unknown')}", out)
                return static.chunks() if with_body else []
        fallback = self.fallback()
        if fallback is not None:
            return fallback[1](environ, start_response)  # type: ignore[no-any-return]
        return _respond(
            start_response, Response(404, [("Content-Type", "text/plain")], b"Not Found")
        )


def _will_close(environ: dict[str, Any]) -> bool:
    """The server closes this connection after the response without saying so: gevent's
    when the client asked it to, uWSGI's HTTP router always unless ``--http-keepalive``."""
    if "uwsgi.version" in environ:
        return not _uwsgi(environ).opt.get("http-keepalive")
    return "close" in environ.get("HTTP_CONNECTION", "").lower() and environ.get(
        "SERVER_SOFTWARE", ""
    ).startswith("gevent/")


def _closing(start_response: StartResponse) -> StartResponse:
    """Say "Connection: close" for a server that closes without saying so: a client that
    pools connections (Node's keep-alive agent, requests) otherwise sends its next request
    on the dead socket ("socket hang up", or a POST lost)."""

    def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        if not any(name.lower() == "connection" for name, _ in headers):
            headers = [*headers, ("Connection", "close")]
        return start_response(status, headers, *args)

    return start


def _text_path(path_info: str) -> str:
    """PATH_INFO as text: WSGI servers hand over the URL's bytes decoded as latin-1."""
    try:
        return path_info.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "\x00"  # refused by the static resolver


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def _request(environ: dict[str, Any], headers: dict[str, str]) -> Any:
    if "uwsgi.version" in environ:
        # uWSGI reuses the environ dict for the core's next request: a session keeps a copy
        environ = dict(environ)
    return routing.make_request(
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("QUERY_STRING", ""),
        headers,
        lambda: environ,
        environ.get("wsgi.url_scheme", "http"),
    )


def _respond(start_response: StartResponse, response: Response) -> list[bytes]:
    headers = [*response.headers, ("Content-Length", str(len(response.body)))]
    start_response(f"{response.status} {_REASONS.get(response.status, 'Unknown')}", headers)
    return [response.body]


def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` (checked before reading when the
    length is declared, and while reading otherwise)."""
    stream = environ.get("wsgi.input")
    length_text = environ.get("CONTENT_LENGTH") or ""
    if length_text.isdigit():
        length = int(length_text)
        if length > limit:
            return None
        return stream.read(length) if stream is not None and length else b""
    if stream is None or not environ.get("wsgi.input_terminated"):
        return b""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _http(
    server: Any, environ: dict[str, Any], headers: dict[str, str], start_response: StartResponse
) -> list[bytes]:
    driver: ThreadDriver = server.driver
    body = _read_body(environ, driver.engine.max_http_buffer_size)
    if body is None:
        return _respond(start_response, driver.payload_too_large(_request(environ, headers)))
    done = threading.Event()
    answer: list[Response] = []

    def respond(response: Response) -> None:
        answer.append(response)
        done.set()

    driver.handle_http(_request(environ, headers), body, respond)
    done.wait()  # a parked poll ends with data, a close, or the session's ping timeout
    return _respond(start_response, answer[0])


class _SyncWebSocket:
    """The driver's handle on a WebSocket owned by a WSGI request thread."""

    __slots__ = (
        "_close_code",
        "_closing",
        "_driver",
        "_frames",
        "_lock",
        "_queued",
        "_sock",
        "closed",
        "resumed",
    )

    def __init__(self, sock: Any, driver: ThreadDriver) -> None:
        self._sock = sock
        self._driver = driver
        self._frames: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes in _frames
        self._lock = threading.Lock()
        self._closing = False
        self._close_code = ws.NORMAL
        self.closed = False
        #: set while the client's frames may be read (cleared by ``throttle``)
        self.resumed = threading.Event()
        self.resumed.set()

    # called under the driver's lock: queue only
    def send_packets(self, packets: list[OutPacket]) -> None:
        frames = [ws.frame_for(packet) for packet in packets]
        self._frames.extend(frames)
        self._queued += sum(len(frame) for frame in frames)
        self._driver.queue_drain(self)

    def backlog(self) -> int:
        return self._queued

    def throttle(self, on: bool) -> None:
        """Stop reading this client's frames while too many of its events wait for
        handlers: the request thread waits before its next ``recv`` and the kernel's
        buffers fill up, which stops the client."""
        if on:
            self.resumed.clear()
        else:
            self.resumed.set()

    def abort(self) -> None:
        """A slow consumer: shut the socket down, which also frees a thread blocked
        writing to it; what is queued is dropped."""
        self._frames.clear()
        self._queued = 0
        self.closed = self._closing = True
        self.resumed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket_module.SHUT_RDWR)

    def close(self, code: int = ws.NORMAL) -> None:
        self._closing = True
        self._close_code = code
        self._driver.queue_drain(self)
        self.resumed.set()  # a paused reader sees the close

    def send_now(self, frame: bytes) -> None:
        self._frames.append(frame)
        self.drain()

    def drain(self) -> None:
        with self._lock:
            frames = self._frames
            try:
                while frames:
                    frame = frames.popleft()
                    self._queued -= len(frame)
                    self._sock.sendall(frame)
                if self._closing and not self.closed:
                    self.closed = True
                    self._sock.sendall(ws.close_frame(self._close_code))
                    with contextlib.suppress(OSError):
                        self._sock.shutdown(socket_module.SHUT_RDWR)
            except OSError:
                self.closed = True
                frames.clear()
                self._queued = 0


class _HandedWebSocket:
    """The driver's handle on a WebSocket the WSGI server has already accepted and hands
    the app as ``environ["wsgi.websocket"]`` (gevent-websocket's ``WebSocketHandler``, the
    ``GeventWebSocketWorker`` of gunicorn): messages go through its ``send``/``receive``."""

    __slots__ = ("_closing", "_driver", "_lock", "_messages", "_queued", "_ws", "closed", "resumed")

    def __init__(self, websocket: Any, driver: ThreadDriver) -> None:
        self._ws = websocket
        self._driver = driver
        self._messages: collections.deque[str | bytes] = collections.deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._closing = False
        self.closed = False
        self.resumed = threading.Event()
        self.resumed.set()

    # called under the driver's lock: queue only
    def send_packets(self, packets: list[OutPacket]) -> None:
        for packet in packets:
            self._messages.append(packet.data)
            self._queued += len(packet.data)
        self._driver.queue_drain(self)

    def backlog(self) -> int:
        return self._queued

    def throttle(self, on: bool) -> None:
        if on:
            self.resumed.clear()
        else:
            self.resumed.set()

    def abort(self) -> None:
        self._messages.clear()
        self._queued = 0
        self.close()

    def close(self) -> None:
        self._closing = True
        self._driver.queue_drain(self)
        self.resumed.set()

    def send_now(self, data: str | bytes) -> None:
        self._messages.append(data)
        self.drain()

    def drain(self) -> None:
        with self._lock:
            messages = self._messages
            try:
                while messages:
                    data = messages.popleft()
                    self._queued -= len(data)
                    self._ws.send(data, binary=not isinstance(data, str))
                if self._closing and not self.closed:
                    self.closed = True
                    self._ws.close()
            except Exception:  # the socket went away; the reader reports it
                self.closed = True
                messages.clear()
                self._queued = 0


def _raw_socket(environ: dict[str, Any]) -> Any:
    """The connection's socket, where the WSGI server exposes it."""
    for key in _RAW_SOCKET_KEYS:
        if key in environ:
            return environ[key]
    eventlet_input = environ.get("eventlet.input")  # eventlet.wsgi
    get_socket = getattr(eventlet_input, "get_socket", None)
    return get_socket() if get_socket is not None else None


def _uwsgi(environ: dict[str, Any]) -> Any:
    """uWSGI's API module, in a request uWSGI serves."""
    if "uwsgi.version" not in environ:
        return None
    import uwsgi

    return uwsgi


def _taken_over(environ: dict[str, Any]) -> None:
    """Tell a server that reads the next request after the app returns that the socket
    was the app's (eventlet.wsgi would otherwise read on a socket we have shut down)."""
    if "eventlet.input" in environ:
        import eventlet.wsgi

        eventlet.wsgi.WSGI_LOCAL.already_handled = True


def _handed_websocket(server: Any, environ: dict[str, Any], headers: dict[str, str]) -> list[bytes]:
    driver: ThreadDriver = server.driver
    websocket = environ["wsgi.websocket"]
    refused: list[Response] = []
    result = driver.handle_http(_request(environ, headers), b"", refused.append)
    if not isinstance(result, WebSocketAccept):
        websocket.close()  # already accepted by the server: the refusal is a close
        return []
    handle = _HandedWebSocket(websocket, driver)
    session = result.session
    driver.ws_attached(result, handle)
    try:
        while not handle.closed:
            handle.resumed.wait()
            if handle.closed:
                break
            try:
                message = websocket.receive()
            except Exception:  # a protocol error or a reset: the connection is over
                break
            if message is None:
                break
            if isinstance(message, (bytearray, memoryview)):
                message = bytes(message)
            driver.ws_message(session, handle, message)
    finally:
        driver.ws_closed(session, handle)
        handle.close()
        handle.drain()
    return []


def _websocket(
    server: Any, environ: dict[str, Any], headers: dict[str, str], start_response: StartResponse
) -> list[bytes]:
    driver: ThreadDriver = server.driver
    if environ.get("wsgi.websocket") is not None:
        return _handed_websocket(server, environ, headers)
    sock = _raw_socket(environ)
    uwsgi = _uwsgi(environ)
    if sock is None and uwsgi is not None:
        # uWSGI (with --http-websockets) completes the handshake itself; its connection is
        # the client's byte stream from then on, read and written here as any other.
        sock = socket_module.fromfd(
            uwsgi.connection_fd(), socket_module.AF_INET, socket_module.SOCK_STREAM
        )
        sock.setblocking(True)  # uWSGI's descriptor is non-blocking; threads wait in recv
    problem = ws.handshake_error(headers)
    if sock is None:
        problem = "this WSGI server does not expose its socket for WebSocket"
    if problem is not None or sock is None:
        return _respond(
            start_response,
            Response(400, [("Content-Type", "text/plain")], (problem or "").encode()),
        )
    refused: list[Response] = []
    result = driver.handle_http(_request(environ, headers), b"", refused.append)
    if not isinstance(result, WebSocketAccept):
        response = refused[0] if refused else Response(400, [], b"Bad Request")
        return _respond(start_response, response)
    handshake = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ws.accept_key(headers["sec-websocket-key"])),
        *result.headers,
    ]
    if uwsgi is not None:
        uwsgi.websocket_handshake()  # result.headers (a cookie) cannot be added there
    elif "werkzeug.socket" in environ:
        # Werkzeug adds "Connection: close" to every response, which strict clients refuse
        # in a handshake: write it ourselves. Werkzeug sends its own headers only when the
        # app returns, on the socket we have shut down by then (a dropped connection to it).
        lines = ["HTTP/1.1 101 Switching Protocols", *(f"{k}: {v}" for k, v in handshake)]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        start_response("101 Switching Protocols", [])
    else:
        write = start_response("101 Switching Protocols", handshake)
        write(b"")  # sends the handshake response; the socket is ours from here on
    with contextlib.suppress(OSError, AttributeError):  # frames must not wait for Nagle
        sock.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, 1)
    handle = _SyncWebSocket(sock, driver)
    session = result.session
    driver.ws_attached(result, handle)
    parser = ws.FrameParser(driver.engine.max_http_buffer_size)
    try:
        while not handle.closed:
            handle.resumed.wait()
            if handle.closed:
                break
            try:
                data = sock.recv(65536)
            except (OSError, ValueError):
                break
            if not data:
                break
            code = driver.ws_data(session, handle, parser, data, handle.send_now)
            if code is not None:
                handle.close(code)
                handle.drain()
                break
    finally:
        driver.ws_closed(session, handle)
        handle.close()
        handle.drain()
        _taken_over(environ)
        if uwsgi is not None:
            sock.close()  # our duplicate of uWSGI's descriptor
    return []


class Middleware(WSGIApp):
    """python-socketio's former name of :class:`WSGIApp` (deprecated there, kept for ported
    apps)."""

    def __init__(
        self, socketio_app: Any, wsgi_app: Any = None, socketio_path: str | None = "socket.io"
    ) -> None:
        super().__init__(socketio_app, wsgi_app, socketio_path=socketio_path)
