"""``SocketIOTestClient``: Flask-SocketIO's test client, on the real server.

The client is an in-process WebSocket peer of the real Engine.IO/Socket.IO core: it opens
an Engine.IO session through the server's driver (as a WSGI or native transport does),
sends and receives encoded packets, and answers pings. Nothing is mocked. Handlers run on
the server's worker threads as in production; each call that triggers a handler (``connect``,
``emit``, ``send``, ``disconnect``) returns once the handler has finished, so what it
emitted is in :meth:`SocketIOTestClient.get_received` (waits are bounded by ``timeout``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from werkzeug.test import EnvironBuilder

from .. import base
from ..engineio.core import WebSocketAccept
from ..engineio.packet import OutPacket
from ..exceptions import TimeoutError
from ..socketio import packet as sio
from ..socketio.packet import PacketType
from ..transports.routing import make_request

if TYPE_CHECKING:
    import flask

    from ..server import Server
    from .extension import SocketIO

__all__ = ["SocketIOTestClient"]


class _Parsed:
    __slots__ = ("attachments", "buffers", "data", "id", "nsp", "type")

    def __init__(self, type_: int, nsp: str, id_: int | None, data: Any, attachments: int):
        self.type = type_
        self.nsp = nsp
        self.id = id_
        self.data = data
        self.attachments = attachments
        self.buffers: list[bytes] = []


def _parse(text: str) -> _Parsed:
    """Decode a server-to-client Socket.IO packet (the text part)."""
    type_ = int(text[0])
    i = 1
    attachments = 0
    if type_ in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        dash = text.index("-")
        attachments = int(text[1:dash])
        i = dash + 1
    nsp = "/"
    if i < len(text) and text[i] == "/":
        comma = text.find(",", i)
        end = len(text) if comma < 0 else comma
        nsp, i = text[i:end], end + 1
    start = i
    while i < len(text) and text[i].isdigit():
        i += 1
    id_ = int(text[start:i]) if i > start else None
    data = orjson.loads(text[i:]) if i < len(text) else None
    return _Parsed(type_, nsp, id_, data, attachments)


def _fill(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, list):
        return [_fill(item, buffers) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True and isinstance(data.get("num"), int):
            return buffers[data["num"]]
        return {key: _fill(value, buffers) for key, value in data.items()}
    return data


class _Handle:
    """The driver's WebSocket handle for the test client (called under the driver's lock:
    it only records)."""

    def __init__(self, client: SocketIOTestClient) -> None:
        self.client = client

    def send_packets(self, packets: list[OutPacket]) -> None:
        self.client._received_packets(packets)

    def close(self) -> None:
        self.client._engine_closed()

    def backlog(self) -> int:
        return 0  # delivered as it is sent

    def drain(self) -> None:
        pass


class SocketIOTestClient:
    """A Socket.IO client for tests, connected to ``namespace`` on creation.

    ``flask_test_client`` (a ``app.test_client()``) lends its cookies, so the user session
    and Flask-Login's ``current_user`` set by HTTP routes are seen by the handlers."""

    #: seconds any call waits for the server's handlers before raising TimeoutError
    timeout = 10.0

    def __init__(
        self,
        app: flask.Flask,
        socketio: SocketIO,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        flask_test_client: Any = None,
    ) -> None:
        self.app = app
        self.socketio = socketio
        self.flask_test_client = flask_test_client
        self.server: Server = socketio._require_server()
        self.eio_sid: str | None = None
        self.queue: list[dict[str, Any]] = []
        self.acks: dict[int, list[Any]] = {}
        self.connected: dict[str, bool] = {}
        self.sids: dict[str, str] = {}
        #: CONNECT_ERROR payloads of refused connections, by namespace
        self.connect_errors: dict[str, Any] = {}
        self.callback_counter = 0
        self._cond = threading.Condition()
        self._session: Any = None
        self._handle: _Handle | None = None
        self._partial: _Parsed | None = None
        #: handlers started / finished, by (sid, event): a call waits for its own event
        #: (a disconnect handler may finish before the handler that disconnected)
        self._expected: dict[tuple[str, str], int] = {}
        self._done: dict[tuple[str, str], int] = {}
        #: what the last handler raised (re-raised by emit), by (sid, event)
        self._errors: dict[tuple[str, str], BaseException] = {}
        #: what the last handler returned (its acknowledgement), by (sid, event)
        self._results: dict[tuple[str, str], Any] = {}
        self.connect(namespace=namespace, query_string=query_string, headers=headers, auth=auth)

    # ------------------------------------------------------------------ public API

    @property
    def sid(self) -> str | None:
        """The sid of the connection to the default namespace."""
        return self.sids.get("/")

    def is_connected(self, namespace: str | None = None) -> bool:
        return self.connected.get(namespace or "/", False)

    def connect(
        self,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
    ) -> None:
        """Connect to ``namespace``. The first connection (or the first after the
        Engine.IO session closed) opens the session; later namespaces share it. Each call's
        ``query_string`` and ``headers`` make the request its ``connect`` handler sees (the
        session's environ from then on, as in Flask-SocketIO)."""
        nsp = namespace or "/"
        request = self._request(query_string, headers)
        if self._session is None or self._session.closed:
            self._open(request)
        else:
            with self.server.driver.lock:
                self._session.request = request
        with self._cond:
            self.connected.pop(nsp, None)
            self.connect_errors.pop(nsp, None)
        self._send(PacketType.CONNECT, nsp, auth)
        self._wait(lambda: nsp in self.connected, f"the connection to {nsp}")

    def disconnect(self, namespace: str | None = None) -> None:
        """Leave ``namespace``; returns after its ``disconnect`` handler ran."""
        nsp = namespace or "/"
        if not self.is_connected(nsp):
            raise RuntimeError("not connected")
        sid = self.sids[nsp]
        handled = self._handled(nsp, "disconnect")
        with self._cond:
            if handled:
                self._expect((sid, "disconnect"))
            self.connected.pop(nsp, None)
        self._send(PacketType.DISCONNECT, nsp, None)
        self._wait_handlers((sid, "disconnect"))
        self.socketio._trackers.pop(sid, None)

    def emit(
        self,
        event: str,
        *args: Any,
        callback: bool = False,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Emit ``event`` with ``args``; returns after the handler ran. With
        ``callback=True`` returns the acknowledgement: its argument, or the list of its
        arguments when there are zero or several (None if no handler acknowledged).

        Raises TypeError if ``args`` cannot be encoded (nothing is sent), and re-raises
        what the handler raised (after the ``on_error`` handlers), including a
        TypeError for an acknowledgement that cannot be encoded, as Flask-SocketIO's
        test client does. Other keyword arguments (``broadcast=``, ...) are accepted and
        ignored, as there."""
        nsp = namespace or "/"
        if not self.is_connected(nsp):
            raise RuntimeError("not connected")
        sid = self.sids[nsp]
        ack_id = None
        if callback:
            self.callback_counter += 1
            ack_id = self.callback_counter
        encoded = sio.encode(PacketType.EVENT, nsp, [event, *args], ack_id)  # may raise
        handled = self._handled(nsp, event)
        key = (sid, event)
        with self._cond:
            self._errors.pop(key, None)
            if handled:
                self._expect(key)
        self._send_encoded(encoded)
        if not handled:
            return None
        self._wait_handlers(key)
        if not self.connected.get(nsp):
            # the handler disconnected its client: Flask-SocketIO's test client returns
            # after the disconnect handler too (it runs right after this one here)
            self._wait_handlers((sid, "disconnect"))
        with self._cond:
            error = self._errors.pop(key, None)
            result = self._results.pop(key, None)
        if error is not None:
            raise error
        if ack_id is None:
            return None
        # the server logs an acknowledgement it cannot encode and sends none; the caller
        # gets the encoder's TypeError, as with Flask-SocketIO
        sio.encode(PacketType.ACK, nsp, base.ack_args(result), ack_id, self.server.core.json)
        self._wait(
            lambda: ack_id in self.acks or not self.connected.get(nsp),
            f"the acknowledgement of {event!r}",
        )
        with self._cond:
            ack = self.acks.pop(ack_id, None)
        if ack is None:
            return None  # the handler disconnected the client: no acknowledgement
        return ack[0] if len(ack) == 1 else ack

    def send(
        self, data: Any, json: bool = False, callback: bool = False, namespace: str | None = None
    ) -> Any:
        """Send an unnamed event: ``'message'``, or ``'json'`` with ``json=True``."""
        return self.emit(
            "json" if json else "message", data, callback=callback, namespace=namespace
        )

    def get_received(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The events received in ``namespace`` since the last call, as
        ``{'name', 'args', 'namespace'}`` (``args`` is the list of arguments; for
        ``'message'`` and ``'json'`` the single argument itself)."""
        nsp = namespace or "/"
        if not self.is_connected(nsp):
            raise RuntimeError("not connected")
        with self._cond:
            mine = [item for item in self.queue if item["namespace"] == nsp]
            self.queue = [item for item in self.queue if item["namespace"] != nsp]
        return mine

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float | None = None, what: str = "it"
    ) -> None:
        """Wait (bounded) until ``predicate()``, re-checked whenever a packet arrives; for
        events emitted by background threads."""
        self._wait(predicate, what, timeout)

    # ------------------------------------------------------------------ engine session

    def _request(self, query_string: str | None, headers: dict[str, str] | None) -> Any:
        """The handshake request of a connection with ``query_string`` and ``headers``."""
        query = (query_string or "").lstrip("?")
        engine_query = urlencode({"EIO": "4", "transport": "websocket"})
        full_query = f"{query}&{engine_query}" if query else engine_query
        # the handlers' request.args are the user's query alone, as with Flask-SocketIO's
        # test client; the Engine.IO parameters only reach the core's request
        environ = EnvironBuilder(
            path=f"/{self.socketio.path}/",
            query_string=query,
            headers=list((headers or {}).items()),
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        ).get_environ()
        environ["flask.app"] = self.app
        if self.flask_test_client is not None:
            _inject_cookies(self.flask_test_client, environ)
        request_headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        request_headers.update({"upgrade": "websocket", "connection": "Upgrade"})
        return make_request("GET", full_query, request_headers, lambda: environ, "http")

    def _open(self, request: Any) -> None:
        refused: list[Any] = []
        driver = self.server.driver
        accept = driver.handle_http(request, b"", refused.append)
        if not isinstance(accept, WebSocketAccept):
            detail = refused[0].body.decode(errors="replace") if refused else "no answer"
            raise RuntimeError(f"the server refused the connection: {detail}")
        handle = _Handle(self)
        with self._cond:
            self._handle = handle
            self._session = accept.session
            self.eio_sid = accept.session.sid
        driver.ws_attached(accept, handle)

    def _send(self, type_: int, nsp: str, data: Any, ack_id: int | None = None) -> None:
        self._send_encoded(sio.encode(type_, nsp, data, ack_id))

    def _send_encoded(self, encoded: tuple[str, list[bytes]]) -> None:
        text, attachments = encoded
        driver = self.server.driver
        session, handle = self._session, self._handle
        if session is None or handle is None or session.closed:
            raise RuntimeError("not connected")
        driver.ws_message(session, handle, "4" + text)
        for blob in attachments:
            driver.ws_message(session, handle, blob)

    def _pong(self) -> None:
        session, handle = self._session, self._handle
        if session is not None and handle is not None and not session.closed:
            self.server.driver.ws_message(session, handle, "3")

    # ------------------------------------------------------------------ receiving
    # (under the driver's lock: record and notify only)

    def _received_packets(self, packets: list[OutPacket]) -> None:
        with self._cond:
            for out in packets:
                data = out.data
                if isinstance(data, bytes):
                    self._attachment(data)
                elif data.startswith("4"):
                    parsed = _parse(data[1:])
                    if parsed.attachments:
                        self._partial = parsed
                    else:
                        self._packet(parsed)
                elif data == "2":
                    self.server.driver.later(0, self._pong)
                elif data == "1":
                    self._closed_locked()
            self._cond.notify_all()

    def _attachment(self, blob: bytes) -> None:
        parsed = self._partial
        if parsed is None:
            return
        parsed.buffers.append(blob)
        if len(parsed.buffers) == parsed.attachments:
            self._partial = None
            parsed.data = _fill(parsed.data, parsed.buffers)
            self._packet(parsed)

    def _packet(self, parsed: _Parsed) -> None:
        nsp = parsed.nsp
        type_ = parsed.type
        if type_ in (PacketType.EVENT, PacketType.BINARY_EVENT):
            name, args = parsed.data[0], parsed.data[1:]
            if name in ("message", "json"):
                self.queue.append(
                    {"name": name, "args": args[0] if args else None, "namespace": nsp}
                )
            else:
                self.queue.append({"name": name, "args": args, "namespace": nsp})
        elif type_ in (PacketType.ACK, PacketType.BINARY_ACK):
            if parsed.id is not None:
                self.acks[parsed.id] = parsed.data
        elif type_ == PacketType.CONNECT:
            sid = parsed.data["sid"]
            self.sids[nsp] = sid
            self.connected[nsp] = True
            self.socketio._trackers[sid] = self._tracker(sid)
        elif type_ == PacketType.CONNECT_ERROR:
            self.connected[nsp] = False
            self.connect_errors[nsp] = parsed.data
        elif type_ == PacketType.DISCONNECT:
            self._server_disconnected(nsp)

    def _server_disconnected(self, nsp: str) -> None:
        if not self.connected.get(nsp):
            return
        self.connected[nsp] = False
        sid = self.sids.get(nsp)
        if sid is not None and self._handled(nsp, "disconnect"):
            self._expect((sid, "disconnect"))

    def _engine_closed(self) -> None:
        with self._cond:
            self._closed_locked()
            self._cond.notify_all()

    def _closed_locked(self) -> None:
        for nsp in list(self.connected):
            self._server_disconnected(nsp)

    # ------------------------------------------------------------------ waiting

    def _handled(self, nsp: str, event: str) -> bool:
        return self.server.find_handler(nsp, event)[0] is not None

    def _tracker(self, sid: str) -> Callable[[str, BaseException | None, Any], None]:
        def finished(event: str, error: BaseException | None, result: Any) -> None:
            key = (sid, event)
            with self._cond:
                self._done[key] = self._done.get(key, 0) + 1
                if error is not None:
                    self._errors[key] = error
                self._results[key] = result
                self._cond.notify_all()

        return finished

    def _expect(self, key: tuple[str, str]) -> None:
        """One more handler of ``key`` to wait for (call with ``_cond`` held)."""
        self._expected[key] = self._expected.get(key, 0) + 1

    def _wait_handlers(self, key: tuple[str, str]) -> None:
        self._wait(
            lambda: self._done.get(key, 0) >= self._expected.get(key, 0),
            f"the server's {key[1]!r} handler",
        )

    def _wait(self, predicate: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"test client: gave up waiting for {what}")
                self._cond.wait(left)


def _inject_cookies(flask_test_client: Any, environ: dict[str, Any]) -> None:
    """Put the Flask test client's cookies into ``environ`` (Werkzeug's client keeps
    them; how it exposes them changed across versions)."""
    add = getattr(flask_test_client, "_add_cookies_to_wsgi", None)
    if add is not None:
        add(environ)
        return
    jar = getattr(flask_test_client, "cookie_jar", None)
    if jar is not None:
        jar.inject_wsgi(environ)
