"""Raw Engine.IO / Socket.IO clients over aiohttp, written for these tests.

Nothing here is a real client library: every packet is spelled out by hand, so tests can
send exactly the (mal)formed bytes they mean to. Three levels:

* :func:`http` / :func:`raw_http`: one HTTP request (aiohttp, or hand-written bytes on an
  asyncio stream when the test must control the framing of the request itself);
* :class:`Polling` and :class:`Ws`: one Engine.IO session over long-polling or WebSocket,
  packet by packet;
* :class:`Peer`: a well-behaved Socket.IO client (answers pings, collects events, resolves
  acks) running a background reader, used as the *witness* that must not be disturbed by a
  misbehaving neighbour.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import struct
from collections import defaultdict
from typing import Any

import aiohttp

SEP = "\x1e"
PATH = "/socket.io/"
TIMEOUT = 5.0


class Closed(Exception):
    """The WebSocket was closed; ``code`` is the close code the peer sent (or None)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"WebSocket closed (code {code})")
        self.code = code


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def decode_payload(body: str) -> list[str]:
    return body.split(SEP) if body else []


def parse_sio(text: str) -> tuple[int, str, int | None, Any]:
    """Parse the text of a Socket.IO packet (without the Engine.IO ``4``):
    ``(type, namespace, ack id, data)``. Only what the server sends us is supported."""
    type_ = int(text[0])
    i = 1
    if type_ in (5, 6):
        i = text.index("-") + 1
    nsp = "/"
    if text[i : i + 1] == "/":
        comma = text.find(",", i)
        nsp, i = (text[i:], len(text)) if comma < 0 else (text[i:comma], comma + 1)
    start = i
    while i < len(text) and text[i].isdigit():
        i += 1
    ack_id = int(text[start:i]) if i > start else None
    data = json.loads(text[i:]) if i < len(text) else None
    return type_, nsp, ack_id, data


# ---------------------------------------------------------------------------- HTTP


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:200]!r})"


async def http(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    params: dict[str, str] | None = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Reply:
    async def go() -> Reply:
        async with session.request(method, url, params=params, data=data, headers=headers) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    return await asyncio.wait_for(go(), timeout)


async def read_response_head(
    reader: asyncio.StreamReader, timeout: float = TIMEOUT
) -> tuple[int, dict[str, str]]:
    """Read an HTTP/1.1 status line and headers."""

    async def go() -> tuple[int, dict[str, str]]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    return await asyncio.wait_for(go(), timeout)


async def raw_http(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)


# ---------------------------------------------------------------------------- polling


class Polling:
    """One Engine.IO session over HTTP long-polling, request by request."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.url = base + PATH
        self.sid: str | None = None
        self.handshake: dict[str, Any] = {}

    def params(self, **extra: str) -> dict[str, str]:
        params = {"EIO": "4", "transport": "polling"}
        if self.sid is not None:
            params["sid"] = self.sid
        params.update(extra)
        return params

    async def open(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        reply = await http(self.session, "GET", self.url, self.params(), headers=headers)
        assert reply.status == 200, reply
        packets = decode_payload(reply.text)
        assert packets and packets[0].startswith("0"), packets
        self.handshake = json.loads(packets[0][1:])
        self.sid = self.handshake["sid"]
        return self.handshake

    async def get_reply(
        self, timeout: float = TIMEOUT, headers: dict[str, str] | None = None
    ) -> Reply:
        return await http(
            self.session, "GET", self.url, self.params(), headers=headers, timeout=timeout
        )

    async def get(self, timeout: float = TIMEOUT) -> list[str]:
        reply = await self.get_reply(timeout)
        assert reply.status == 200, reply
        return decode_payload(reply.text)

    async def post_reply(self, body: str | bytes, headers: dict[str, str] | None = None) -> Reply:
        return await http(self.session, "POST", self.url, self.params(), data=body, headers=headers)

    async def post(self, *packets: str) -> None:
        reply = await self.post_reply(SEP.join(packets))
        assert reply.status == 200 and reply.body == b"ok", reply

    async def sio_connect(self, auth: Any = None, timeout: float = TIMEOUT) -> str:
        """Join the main namespace; returns the Socket.IO sid."""
        await self.post("40" + ("" if auth is None else dumps(auth)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for packet in await self.get(max(0.1, deadline - loop.time())):
                if packet.startswith("40"):
                    return str(json.loads(packet[2:])["sid"])
                if packet == "2":
                    await self.post("3")
                else:
                    raise AssertionError(f"unexpected packet before CONNECT: {packet!r}")


# ---------------------------------------------------------------------------- WebSocket


def ws_url(base: str, **query: str) -> str:
    params = {"EIO": "4", "transport": "websocket", **query}
    return (
        base.replace("http://", "ws://")
        + PATH
        + "?"
        + "&".join(f"{k}={v}" for k, v in params.items())
    )


class Ws:
    """One Engine.IO WebSocket, message by message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.handshake: dict[str, Any] = {}

    @classmethod
    async def connect(
        cls,
        session: aiohttp.ClientSession,
        base: str,
        headers: dict[str, str] | None = None,
        **query: str,
    ) -> Ws:
        ws = await asyncio.wait_for(
            session.ws_connect(
                ws_url(base, **query), headers=headers, max_msg_size=0, autoping=True
            ),
            TIMEOUT,
        )
        return cls(ws)

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def recv(self, timeout: float = TIMEOUT, pong: bool = True) -> str | bytes:
        """The next message; Engine.IO pings are answered (unless ``pong`` is False) and
        skipped. Raises :class:`Closed` when the socket closes."""
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "2":
                    if pong:
                        await self.ws.send_str("3")
                    continue
                return str(msg.data)
            if msg.type == aiohttp.WSMsgType.BINARY:
                return bytes(msg.data)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                raise Closed(msg.data)
            if msg.type in (
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                raise Closed(self.ws.close_code)

    async def open(self) -> dict[str, Any]:
        packet = await self.recv()
        assert isinstance(packet, str) and packet.startswith("0"), packet
        self.handshake = json.loads(packet[1:])
        return self.handshake

    async def sio_connect(self, auth: Any = None) -> str:
        """Read the open packet (if not yet read), join ``/``; returns the Socket.IO sid."""
        if not self.handshake:
            await self.open()
        await self.send("40" + ("" if auth is None else dumps(auth)))
        packet = await self.recv()
        assert isinstance(packet, str) and packet.startswith("40"), packet
        return str(json.loads(packet[2:])["sid"])

    async def expect_closed(self, timeout: float = TIMEOUT, pong: bool = True) -> int | None:
        """Wait (bounded) for the server to close the socket, skipping any messages;
        returns the close code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError("the server did not close the WebSocket in time")
            try:
                await self.recv(remaining, pong=pong)
            except Closed as closed:
                return closed.code
            except asyncio.TimeoutError:
                raise AssertionError("the server did not close the WebSocket in time") from None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), TIMEOUT)


# ---------------------------------------------------------------------------- a good peer


class Peer:
    """A well-behaved Socket.IO client on ``/`` (WebSocket or polling) with a reader task.

    Events land in per-name queues (:meth:`next`), acks resolve :meth:`call`; pings are
    answered and counted. ``disconnected`` is set when the session ends."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.sid: str | None = None
        self.queues: defaultdict[str, asyncio.Queue[list[Any]]] = defaultdict(asyncio.Queue)
        self.acks: dict[int, asyncio.Future[list[Any]]] = {}
        self.next_ack = 0
        self.pings = 0
        self.ping_seen = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.close_reason: str | None = None
        self.ws: Ws | None = None
        self.polling: Polling | None = None
        self._task: asyncio.Task[None] | None = None

    # -- construction

    @classmethod
    async def websocket(cls, session: aiohttp.ClientSession, base: str, auth: Any = None) -> Peer:
        peer = cls("websocket")
        peer.ws = await Ws.connect(session, base)
        peer.sid = await peer.ws.sio_connect(auth)
        peer._task = asyncio.ensure_future(peer._read_ws())
        return peer

    @classmethod
    async def adopt_ws(cls, ws: Ws, sid: str) -> Peer:
        """Take over a raw WebSocket already connected to ``/`` (e.g. after an upgrade)."""
        peer = cls("websocket")
        peer.ws = ws
        peer.sid = sid
        peer._task = asyncio.ensure_future(peer._read_ws())
        return peer

    @classmethod
    async def long_polling(
        cls, session: aiohttp.ClientSession, base: str, auth: Any = None
    ) -> Peer:
        peer = cls("polling")
        peer.polling = Polling(session, base)
        await peer.polling.open()
        peer.sid = await peer.polling.sio_connect(auth)
        peer._task = asyncio.ensure_future(peer._read_polling())
        return peer

    # -- use

    @property
    def connected(self) -> bool:
        return not self.disconnected.is_set()

    async def send(self, packet: str) -> None:
        if self.ws is not None:
            await self.ws.send(packet)
        else:
            assert self.polling is not None
            await self.polling.post(packet)

    async def emit(self, event: str, *args: Any) -> None:
        await self.send("42" + dumps([event, *args]))

    async def call(self, event: str, *args: Any, timeout: float = TIMEOUT) -> list[Any]:
        """Emit with an ack id and wait (bounded) for the server's acknowledgement."""
        ack_id = self.next_ack
        self.next_ack += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = future
        await self.send(f"42{ack_id}" + dumps([event, *args]))
        return await asyncio.wait_for(future, timeout)

    async def next(self, event: str, timeout: float = TIMEOUT) -> list[Any]:
        """The arguments of the next ``event`` received (bounded wait)."""
        return await asyncio.wait_for(self.queues[event].get(), timeout)

    async def wait_pings(self, count: int, timeout: float) -> None:
        async def go() -> None:
            while self.pings < count:
                self.ping_seen.clear()
                await self.ping_seen.wait()

        await asyncio.wait_for(go(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.ws is not None:
            await self.ws.close()

    # -- reading

    def _on_packet(self, packet: str) -> str | None:
        """Handle one Engine.IO packet; returns a packet to answer with."""
        if packet == "2":
            self.pings += 1
            self.ping_seen.set()
            return "3"
        if packet == "6":
            return None
        if packet == "1":
            self._finish("engine close")
            return None
        if not packet.startswith("4"):
            raise AssertionError(f"unexpected Engine.IO packet {packet!r}")
        type_, _nsp, ack_id, data = parse_sio(packet[1:])
        if type_ == 2:
            self.queues[data[0]].put_nowait(data[1:])
            if ack_id is not None:
                return f"43{ack_id}" + dumps(["ok"])
        elif type_ == 3:
            future = self.acks.pop(ack_id, None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(data)
        elif type_ == 1:
            self._finish("server disconnect")
        else:
            raise AssertionError(f"unexpected Socket.IO packet {packet!r}")
        return None

    def _finish(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self.disconnected.set()
        for future in self.acks.values():
            if not future.done():
                future.set_exception(ConnectionError(f"disconnected: {reason}"))

    async def _read_ws(self) -> None:
        assert self.ws is not None
        ws = self.ws.ws
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"unexpected WebSocket message {msg!r}")
                answer = self._on_packet(msg.data)
                if answer is not None:
                    await ws.send_str(answer)
        finally:
            self._finish("transport close")

    async def _read_polling(self) -> None:
        polling = self.polling
        assert polling is not None
        try:
            while True:
                reply = await polling.get_reply(timeout=60)
                if reply.status != 200:
                    self._finish(f"poll refused: {reply!r}")
                    return
                for packet in decode_payload(reply.text):
                    answer = self._on_packet(packet)
                    if answer is not None:
                        await polling.post(answer)
                if self.disconnected.is_set():
                    return
        finally:
            self._finish("transport close")


# ---------------------------------------------------------------------------- a bad client


class Raw:
    """A Socket.IO client on ``/`` over either transport that sends whatever it is told and
    reads packet by packet (pings answered and skipped)."""

    def __init__(
        self, transport: str, ws: Ws | None = None, polling: Polling | None = None
    ) -> None:
        self.transport = transport
        self.ws = ws
        self.polling = polling
        self.sid: str | None = None
        self._buffer: list[str | bytes] = []

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, base: str, transport: str, auth: Any = None
    ) -> Raw:
        if transport == "websocket":
            raw = cls(transport, ws=await Ws.connect(session, base))
            raw.sid = await raw.ws.sio_connect(auth)  # type: ignore[union-attr]
        else:
            raw = cls(transport, polling=Polling(session, base))
            await raw.polling.open()  # type: ignore[union-attr]
            raw.sid = await raw.polling.sio_connect(auth)  # type: ignore[union-attr]
        return raw

    async def send(self, *packets: str | bytes) -> Reply | None:
        """Send packets (one WebSocket message each, or one POST); returns the POST reply."""
        if self.ws is not None:
            for packet in packets:
                await self.ws.send(packet)
            return None
        assert self.polling is not None
        encoded = [p if isinstance(p, str) else "b" + base64.b64encode(p).decode() for p in packets]
        return await self.polling.post_reply(SEP.join(encoded))

    async def recv(self, timeout: float = TIMEOUT) -> str | bytes:
        if self.ws is not None:
            return await self.ws.recv(timeout)
        assert self.polling is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._buffer:
            reply = await self.polling.get_reply(max(0.05, deadline - loop.time()))
            if reply.status != 200:
                raise Closed(reply.status)
            for packet in decode_payload(reply.text):
                if packet == "2":
                    await self.polling.post("3")
                elif packet.startswith("b"):
                    self._buffer.append(base64.b64decode(packet[1:]))
                elif packet == "1":
                    raise Closed(None)
                elif packet != "6":
                    self._buffer.append(packet)
        return self._buffer.pop(0)

    async def expect_closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait (bounded) for the session to end: the WebSocket closes (returns the close
        code), or, over polling, a poll carries ``1`` / is refused, and then the sid is
        unknown (returns None)."""
        if self.ws is not None:
            return await self.ws.expect_closed(timeout)
        assert self.polling is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if loop.time() > deadline:
                raise AssertionError("the server did not close the polling session in time")
            try:
                await self.recv(max(0.05, deadline - loop.time()))
            except Closed:
                break
            except asyncio.TimeoutError:
                raise AssertionError(
                    "the server did not close the polling session in time"
                ) from None
        reply = await self.polling.get_reply()
        assert reply.status == 400, reply
        assert reply.json() == {"code": 1, "message": "Session ID unknown"}, reply
        return None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class RawWebSocket:
    """An Engine.IO WebSocket spoken byte by byte (frames masked with a zero key, so the
    payload is sent as written), for frames no client library would produce."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, rcvbuf: int | None = None) -> RawWebSocket:
        """``rcvbuf``: a small receive buffer, for a client that will stop reading."""
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        raw = cls(reader, writer)
        opcode, payload = await raw.frame()
        assert opcode == 0x1 and payload.startswith(b"0{"), payload
        return raw

    def send(self, first: int, payload: bytes) -> None:
        assert len(payload) < 126
        self.writer.write(bytes([first, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload)

    async def frame(self) -> tuple[int, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(2), 5)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return head[0] & 0x0F, await self.reader.readexactly(length)

    async def close_code(self) -> int:
        """The code of the server's close frame (other frames skipped)."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])

    def close(self) -> None:
        self.writer.close()
