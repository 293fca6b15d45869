"""Load generator for socketwire's benchmark: speaks Engine.IO v4 / Socket.IO v5 directly.

Every simulated client is one ``asyncio.Protocol`` on a raw TCP socket (uvloop when
installed): a hand-written WebSocket client (handshake, masked client frames, unmasked
server frames) or a minimal HTTP/1.1 keep-alive client for long-polling. No client library
runs per connection, so one generator core drives thousands of clients.

    python bench/loadgen.py --port 5000 --scenario echo-ws --clients 100 --duration 5 \
        [--server-pid PID]

Prints one JSON object (the result) on its last stdout line. Scenarios:

- ``echo-ws`` / ``echo-poll``: each client keeps one ``echo`` event with an ack in flight
  (closed loop); rate = acks per second, latency = emit -> ack.
- ``broadcast``: ``clients`` clients join room "bench"; one extra trigger client asks the
  server to broadcast, keeping ``window`` broadcasts in flight (a broadcast is done when
  every member got it, or abandoned after 2 s); rate = deliveries per second, latency =
  trigger emit -> delivery, lost = broadcasts sent * members - deliveries.
- ``broadcast-redis``: the same across two nodes of a cluster: the members on ``--port``
  (node B), the trigger client on ``--trigger-port`` (node A), so every delivery crosses the
  message queue. Probe broadcasts first wait until node B hears node A (subscriptions up).
- ``connect``: opens ``clients`` WebSocket clients (``concurrency`` handshakes in flight);
  rate = connections per second, latency = TCP connect -> Socket.IO CONNECT answered,
  memory = server RSS growth / clients.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - pure Python fallback

    def apply_mask(data: bytes, mask: bytes) -> bytes:
        n = len(data)
        key = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(
            n, "little"
        )


now = time.perf_counter
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
EIO_PATH = "/socket.io/?EIO=4&transport="
SERVER_CORE: int | None = None  # set from --server-core
_pending: set[asyncio.Future[None]] = set()  # reconnects in progress


# ----------------------------------------------------------------------------- measures


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def rss_bytes(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def core_busy_seconds(core: int | None) -> float | None:
    """Non-idle time of one CPU (all processes, interrupts included), from /proc/stat."""
    if core is None:
        return None
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"cpu%d " % core):
                    v = [int(x) for x in line.split()[1:]]
                    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait
    except (OSError, ValueError):
        pass
    return None


class Window:
    """CPU use of the server and of this generator over a measurement window, and how busy
    the server's core was with anything else (other processes on a shared machine)."""

    def __init__(
        self,
        server_pid: int | None,
        server_core: int | None = None,
        peer_pid: int | None = None,
        redis_pid: int | None = None,
    ) -> None:
        self.server_pid = server_pid
        self.server_core = server_core if server_core is not None else SERVER_CORE
        # a second server process on the same core (the other node of a cluster; not
        # counted as "other"), and the broker (reported only: it is not pinned)
        self.peer_pid = peer_pid
        self.redis_pid = redis_pid
        self.t0 = now()
        self.s0 = cpu_seconds(server_pid)
        self.p0 = cpu_seconds(peer_pid)
        self.r0 = cpu_seconds(redis_pid)
        self.g0 = cpu_seconds(os.getpid())
        self.c0 = core_busy_seconds(self.server_core)
        self.elapsed = 0.0
        self.server_cpu: float | None = None
        self.peer_cpu: float | None = None
        self.redis_cpu: float | None = None
        self.gen_cpu: float | None = None
        self.other_cpu: float | None = None

    def close(self) -> Window:
        self.elapsed = now() - self.t0
        s1, g1 = cpu_seconds(self.server_pid), cpu_seconds(os.getpid())
        c1 = core_busy_seconds(self.server_core)
        if self.s0 is not None and s1 is not None:
            self.server_cpu = round(100 * (s1 - self.s0) / self.elapsed, 1)
        if self.g0 is not None and g1 is not None:
            self.gen_cpu = round(100 * (g1 - self.g0) / self.elapsed, 1)
        p1, r1 = cpu_seconds(self.peer_pid), cpu_seconds(self.redis_pid)
        if self.p0 is not None and p1 is not None:
            self.peer_cpu = round(100 * (p1 - self.p0) / self.elapsed, 1)
        if self.r0 is not None and r1 is not None:
            self.redis_cpu = round(100 * (r1 - self.r0) / self.elapsed, 1)
        if self.c0 is not None and c1 is not None and self.server_cpu is not None:
            busy = 100 * (c1 - self.c0) / self.elapsed
            self.other_cpu = round(max(0.0, busy - self.server_cpu - (self.peer_cpu or 0)), 1)
        return self

    def fields(self) -> dict[str, Any]:
        found = {
            "server_cpu": self.server_cpu,
            "gen_cpu": self.gen_cpu,
            "server_core_other_cpu": self.other_cpu,
            "seconds": round(self.elapsed, 3),
        }
        if self.peer_pid is not None:
            found["peer_cpu"] = self.peer_cpu
        if self.redis_pid is not None:
            found["redis_cpu"] = self.redis_cpu
        return found


def percentiles(samples: list[float]) -> tuple[float | None, float | None]:
    if not samples:
        return None, None
    ordered = sorted(samples)
    n = len(ordered)
    p50 = ordered[min(n - 1, int(0.50 * n))]
    p99 = ordered[min(n - 1, int(0.99 * n))]
    return round(p50 * 1000, 3), round(p99 * 1000, 3)


# ----------------------------------------------------------------------------- WebSocket


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One masked client frame (RFC 6455 5.3: a fresh 32-bit key per frame)."""
    n = len(payload)
    mask = random.getrandbits(32).to_bytes(4, "little")
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


PONG_FRAME_PAYLOAD = b"3"


class WSClient(asyncio.Protocol):
    """A Socket.IO client over WebSocket. ``on_packet(payload, t)`` gets every Socket.IO
    packet after the CONNECT (payload still starts with the Engine.IO '4')."""

    __slots__ = (
        "buf",
        "closed",
        "connected",
        "fast",
        "handshake",
        "host",
        "on_packet",
        "sid",
        "t_start",
        "transport",
    )

    def __init__(self, host: str, connected: asyncio.Future[float]) -> None:
        self.host = host
        self.connected = connected  # resolved with the CONNECT latency
        self.handshake = True
        self.buf = b""
        self.closed = False
        self.sid = b""
        self.on_packet: Callable[[bytes, float], None] | None = None
        # optional fast path: fast(data, t) handles a whole data_received chunk, or says no
        self.fast: Callable[[bytes, float], bool] | None = None
        self.transport: Any = None
        self.t_start = now()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(random.randbytes(16)).decode()
        transport.write(
            (
                f"GET {EIO_PATH}websocket HTTP/1.1\r\nHost: {self.host}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    def send(self, payload: bytes) -> None:
        if not self.closed:
            self.transport.write(ws_frame(payload))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        t = now()
        if self.fast is not None and not self.buf and self.fast(data, t):
            return
        buf = self.buf + data if self.buf else data
        if self.handshake:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if buf[9:12] != b"101":
                self._fail(f"handshake refused: {buf[:end]!r}")
                return
            self.handshake = False
            buf = buf[end + 4 :]
        n = len(buf)
        # fast path: exactly one small frame
        if n >= 2 and buf[1] < 126 and n == 2 + buf[1]:
            self.buf = b""
            if buf[0] == 0x81:
                self._text(buf[2:], t)
            else:
                self._control(buf[0] & 0x0F, buf[2:])
            return
        i = 0
        while n - i >= 2:
            length = buf[i + 1] & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = int.from_bytes(buf[i + 2 : i + 4], "big")
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            end = i + head + length
            if end > n:
                break
            first = buf[i]
            payload = buf[i + head : end]
            i = end
            if first == 0x81:
                self._text(payload, t)
            else:
                self._control(first & 0x0F, payload)
        self.buf = buf[i:] if i < n else b""

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:
            self.transport.write(ws_frame(payload, 0xA))
        elif opcode == 0x8:
            self.close()
        elif opcode in (0x1, 0x2):  # fragmented or binary: not used by the benchmark
            self._fail(f"unexpected frame opcode {opcode}")

    def _text(self, payload: bytes, t: float) -> None:
        kind = payload[:1]
        if kind == b"4":
            if self.on_packet is not None and payload[1:2] != b"0":
                self.on_packet(payload, t)
            elif payload[1:2] == b"0":
                self.sid = payload
                if not self.connected.done():
                    self.connected.set_result(t - self.t_start)
            elif payload[1:2] == b"4":
                self._fail(f"connect refused: {payload!r}")
        elif kind == b"2":
            self.send(PONG_FRAME_PAYLOAD)
        elif kind == b"0":
            self.transport.write(ws_frame(b"40"))
        elif kind == b"1":
            self.close()

    def _fail(self, why: str) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(why))
        self.close()


async def open_ws(host: str, port: int) -> tuple[WSClient, float]:
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[float] = loop.create_future()
    t0 = now()
    _, client = await loop.create_connection(
        lambda: WSClient(f"{host}:{port}", connected), host, port
    )
    client.t_start = t0
    latency = await asyncio.wait_for(connected, 15)
    return client, latency


async def open_many(
    host: str, port: int, count: int, concurrency: int
) -> tuple[list[WSClient], list[float], int]:
    """Open ``count`` clients with at most ``concurrency`` handshakes in flight."""
    clients: list[WSClient] = []
    latencies: list[float] = []
    failures = 0
    todo = iter(range(count))

    async def worker() -> None:
        nonlocal failures
        for _ in todo:
            try:
                client, latency = await open_ws(host, port)
            except (OSError, asyncio.TimeoutError) as exc:
                failures += 1
                if failures <= 3:
                    print(f"connect failed: {exc!r}", file=sys.stderr)
                continue
            clients.append(client)
            latencies.append(latency)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return clients, latencies, failures


# ----------------------------------------------------------------------------- HTTP polling


class HttpClient(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; ``on_response(status,
    body, t)`` is called per response (Content-Length or chunked bodies). When the server
    answers ``Connection: close`` (Werkzeug), the next request reconnects transparently."""

    __slots__ = (
        "addr",
        "buf",
        "closed",
        "head",
        "host",
        "need",
        "on_response",
        "reconnects",
        "transport",
    )

    def __init__(self, host: str, port: int) -> None:
        self.host = f"{host}:{port}"
        self.addr = (host, port)
        self.buf = b""
        self.need = -1  # body bytes expected, -1 = reading the head, -2 = chunked
        self.head = b""
        self.closed = True
        self.reconnects = 0
        self.on_response: Callable[[int, bytes, float], None] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closed = False
        self.buf = b""
        self.need = -1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def request(self, method: str, path: str, body: bytes = b"") -> None:
        if method == "GET":
            data = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        else:
            data = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
        if self.closed:
            self.reconnects += 1
            _pending.add(task := asyncio.ensure_future(self._reconnect(data)))
            task.add_done_callback(_pending.discard)
        else:
            self.transport.write(data)

    async def _reconnect(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, *self.addr)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        t = now()
        self.buf = self.buf + data if self.buf else data
        while True:
            if self.need == -1:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                self.head = self.buf[:end].lower()
                self.buf = self.buf[end + 4 :]
                at = self.head.find(b"\r\ncontent-length:")
                if at >= 0:
                    stop = self.head.find(b"\r\n", at + 2)
                    self.need = int(self.head[at + 17 : stop if stop > 0 else None])
                elif b"transfer-encoding: chunked" in self.head:
                    self.need = -2
                else:
                    self.need = 0
            if self.need == -2:
                body = self._dechunk()
                if body is None:
                    return
            else:
                if len(self.buf) < self.need:
                    return
                body, self.buf = self.buf[: self.need], self.buf[self.need :]
            status = int(self.head[9:12])
            self.need = -1
            if b"\r\nconnection: close" in self.head:
                self.closed = True
                self.transport.close()
            if self.on_response is not None:
                self.on_response(status, body, t)

    def _dechunk(self) -> bytes | None:
        parts = []
        i = 0
        buf = self.buf
        while True:
            eol = buf.find(b"\r\n", i)
            if eol < 0:
                return None
            size = int(buf[i:eol].split(b";")[0], 16)
            if size == 0:
                end = buf.find(b"\r\n", eol + 2)  # no trailers expected
                if end < 0:
                    return None
                self.buf = buf[end + 2 :]
                return b"".join(parts)
            if len(buf) < eol + 2 + size + 2:
                return None
            parts.append(buf[eol + 2 : eol + 2 + size])
            i = eol + 2 + size + 2


async def http_once(client: HttpClient, method: str, path: str, body: bytes = b"") -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, bytes]] = loop.create_future()
    client.on_response = lambda status, data, t: done.done() or done.set_result((status, data))
    client.request(method, path, body)
    status, data = await asyncio.wait_for(done, 15)
    client.on_response = None
    if status != 200:
        raise ConnectionError(f"{method} {path} -> {status} {data!r}")
    return data


# ----------------------------------------------------------------------------- scenarios


ECHO_TEXT = b'"socketwire-bench-echo-payload"'


async def drain(busy: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait (up to ``limit`` s) until nothing is in flight any more."""
    deadline = now() + limit
    while busy() and now() < deadline:
        await asyncio.sleep(0.02)


class Stats:
    def __init__(self) -> None:
        self.measuring = False
        self.count = 0
        self.latencies: list[float] = []


class EchoWS:
    """Closed loop per client: emit echo with ack id, on the ack emit the next."""

    __slots__ = ("ack_id", "client", "running", "stats", "t_sent")

    def __init__(self, client: WSClient, stats: Stats) -> None:
        self.client = client
        self.stats = stats
        self.ack_id = 0
        self.t_sent = 0.0
        self.running = True
        client.on_packet = self.on_packet

    def fire(self) -> None:
        self.ack_id = abs(self.ack_id) + 1
        self.t_sent = now()
        self.client.send(b'42%d["echo",%d,%s]' % (self.ack_id, self.ack_id, ECHO_TEXT))

    def on_packet(self, payload: bytes, t: float) -> None:
        if payload[1:2] != b"3":
            return
        if int(payload[2 : payload.index(b"[")]) != self.ack_id:
            raise RuntimeError(f"unexpected ack {payload!r}, waiting for {self.ack_id}")
        stats = self.stats
        if stats.measuring:
            stats.count += 1
            stats.latencies.append(t - self.t_sent)
        self.ack_id = -self.ack_id  # answered
        if self.running:
            self.fire()


async def scenario_echo_ws(args: argparse.Namespace) -> dict[str, Any]:
    clients, _, failures = await open_many(args.host, args.port, args.clients, args.concurrency)
    stats = Stats()
    loops = [EchoWS(c, stats) for c in clients]
    for loop_ in loops:
        loop_.fire()
    await asyncio.sleep(args.warmup)
    stats.measuring = True
    window = Window(args.server_pid)
    await asyncio.sleep(args.duration)
    stats.measuring = False
    window.close()
    for loop_ in loops:
        loop_.running = False
    await drain(lambda: any(lp.ack_id > 0 for lp in loops))
    unanswered = sum(1 for lp in loops if lp.ack_id > 0)
    lost_clients = sum(1 for c in clients if c.closed)
    for c in clients:
        c.close()
    p50, p99 = percentiles(stats.latencies)
    return {
        "unit": "acks/s",
        "rate": round(stats.count / window.elapsed, 1),
        "count": stats.count,
        "p50_ms": p50,
        "p99_ms": p99,
        "lost": unanswered,
        "connect_failures": failures,
        "disconnected": lost_clients,
        **window.fields(),
    }


class EchoPoll:
    """One polling client: a GET connection always parked on the server and a POST
    connection carrying the echo events (one in flight) and pongs."""

    __slots__ = (
        "ack_id",
        "get",
        "get_path",
        "post",
        "post_busy",
        "post_path",
        "post_queue",
        "running",
        "stats",
        "t_sent",
    )

    def __init__(self, get: HttpClient, post: HttpClient, sid: str, stats: Stats) -> None:
        self.get, self.post, self.stats = get, post, stats
        self.get_path = self.post_path = f"{EIO_PATH}polling&sid={sid}"
        self.ack_id = 0
        self.t_sent = 0.0
        self.running = True
        self.post_busy = False
        self.post_queue: list[bytes] = []
        get.on_response = self.on_get
        post.on_response = self.on_post

    def start(self) -> None:
        self.get.request("GET", self.get_path)
        self.fire()

    def fire(self) -> None:
        self.ack_id = abs(self.ack_id) + 1
        self.t_sent = now()
        self.send(b'42%d["echo",%d,%s]' % (self.ack_id, self.ack_id, ECHO_TEXT))

    def send(self, body: bytes) -> None:
        if self.post_busy:
            self.post_queue.append(body)
        else:
            self.post_busy = True
            self.post.request("POST", self.post_path, body)

    def on_post(self, status: int, body: bytes, t: float) -> None:
        if status != 200:
            raise RuntimeError(f"POST -> {status} {body!r}")
        self.post_busy = False
        if self.post_queue:
            self.send(b"\x1e".join(self.post_queue))
            self.post_queue.clear()

    def on_get(self, status: int, body: bytes, t: float) -> None:
        if status != 200:
            raise RuntimeError(f"GET -> {status} {body!r}")
        for packet in body.split(b"\x1e"):
            if packet[:2] == b"43":
                if int(packet[2 : packet.index(b"[")]) != self.ack_id:
                    raise RuntimeError(f"unexpected ack {packet!r}, waiting for {self.ack_id}")
                if self.stats.measuring:
                    self.stats.count += 1
                    self.stats.latencies.append(t - self.t_sent)
                self.ack_id = -self.ack_id
                if self.running:
                    self.fire()
            elif packet == b"2":
                self.send(b"3")
            elif packet[:1] == b"1":
                self.running = False
                return
        if self.running or self.ack_id > 0:
            self.get.request("GET", self.get_path)


async def open_poll(host: str, port: int, stats: Stats) -> EchoPoll:
    loop = asyncio.get_running_loop()
    _, get = await loop.create_connection(lambda: HttpClient(host, port), host, port)
    _, post = await loop.create_connection(lambda: HttpClient(host, port), host, port)
    opened = await http_once(get, "GET", f"{EIO_PATH}polling")
    sid = json.loads(opened[1:])["sid"]
    path = f"{EIO_PATH}polling&sid={sid}"
    await http_once(post, "POST", path, b"40")
    connected = b""
    while not connected.startswith(b"40"):  # the CONNECT answer (maybe after a noop)
        for packet in (await http_once(get, "GET", path)).split(b"\x1e"):
            if packet.startswith(b"40"):
                connected = packet
    return EchoPoll(get, post, sid, stats)


async def scenario_echo_poll(args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    sem = asyncio.Semaphore(args.concurrency)
    failures = 0

    async def one() -> EchoPoll | None:
        nonlocal failures
        async with sem:
            try:
                return await open_poll(args.host, args.port, stats)
            except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                failures += 1
                print(f"polling connect failed: {exc!r}", file=sys.stderr)
                return None

    clients = [c for c in await asyncio.gather(*(one() for _ in range(args.clients))) if c]
    for c in clients:
        c.start()
    await asyncio.sleep(args.warmup)
    stats.measuring = True
    window = Window(args.server_pid)
    await asyncio.sleep(args.duration)
    stats.measuring = False
    window.close()
    for c in clients:
        c.running = False
    await drain(lambda: any(c.ack_id > 0 for c in clients))
    unanswered = sum(1 for c in clients if c.ack_id > 0)
    reconnects = sum(c.get.reconnects + c.post.reconnects for c in clients)
    for c in clients:
        c.get.transport.abort()
        c.post.transport.abort()
    p50, p99 = percentiles(stats.latencies)
    return {
        "unit": "acks/s",
        "rate": round(stats.count / window.elapsed, 1),
        "count": stats.count,
        "p50_ms": p50,
        "p99_ms": p99,
        "lost": unanswered,
        "connect_failures": failures,
        "http_reconnects": reconnects,
        **window.fields(),
    }


BCAST_PREFIX = b'42["bcast",{"s":'
BCAST_PAD = "x" * 32
ABANDON_AFTER = 2.0


class Broadcast:
    """Shared state of a broadcast run: per-sequence delivery counts and send times."""

    def __init__(self, trigger: WSClient, members: int, window: int) -> None:
        self.trigger = trigger
        self.members = members
        self.window = window
        self.counts: list[int] = []
        self.sent_at: list[float] = []
        self.open: dict[int, float] = {}
        self.running = True
        self.measuring = False
        self.delivered = 0  # deliveries counted during the measurement window
        self.latencies: list[float] = []
        self.abandoned = 0
        self.unparsed = 0

    def pump(self) -> None:
        while self.running and len(self.open) < self.window:
            seq = len(self.counts)
            t = now()
            self.counts.append(0)
            self.sent_at.append(t)
            self.open[seq] = t
            self.trigger.send(
                b'42["broadcast",{"room":"bench","data":{"s":%d,"p":"%s"}}]'
                % (seq, BCAST_PAD.encode())
            )

    def fast(self, data: bytes, t: float) -> bool:
        """One whole small frame carrying one compact bcast packet: count it inline."""
        if data[0] != 0x81 or len(data) != 2 + data[1] or not data.startswith(BCAST_PREFIX, 2):
            return False
        seq = int(data[18 : data.find(b",", 18)])
        counts = self.counts
        counts[seq] += 1
        if self.measuring:
            self.delivered += 1
            self.latencies.append(t - self.sent_at[seq])
        if counts[seq] == self.members and seq in self.open:
            del self.open[seq]
            self.pump()
        return True

    def on_packet(self, payload: bytes, t: float) -> None:
        if payload.startswith(BCAST_PREFIX):
            stop = payload.find(b",", 16)
            seq = int(payload[16:stop])
        elif payload[:2] == b"42":
            try:  # not the compact JSON we expect: parse it properly
                seq = int(json.loads(payload[2:])[1]["s"])
            except (ValueError, KeyError, IndexError, TypeError):
                self.unparsed += 1
                return
        else:
            return
        counts = self.counts
        counts[seq] += 1
        if self.measuring:
            self.delivered += 1
            self.latencies.append(t - self.sent_at[seq])
        if counts[seq] == self.members and seq in self.open:
            del self.open[seq]
            self.pump()

    def expire(self) -> None:
        limit = now() - ABANDON_AFTER
        for seq, t in list(self.open.items()):
            if t < limit:
                del self.open[seq]
                self.abandoned += 1
        self.pump()


async def cross_node_ready(trigger: WSClient, members: list[WSClient], limit: float = 20.0) -> int:
    """Send probe broadcasts through the trigger's node until every member (on the other
    node) got one: both nodes are subscribed to the message queue. Then wait until probes
    stop arriving. Returns the number of probes sent."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    seen = [False] * len(members)
    state = {"missing": len(members), "last": now()}

    def handler(i: int) -> Callable[[bytes, float], None]:
        def on_packet(payload: bytes, t: float) -> None:
            if b'"probe"' not in payload:
                return
            state["last"] = t
            if not seen[i]:
                seen[i] = True
                state["missing"] -= 1
                if state["missing"] == 0 and not done.done():
                    done.set_result(None)

        return on_packet

    for i, m in enumerate(members):
        m.on_packet = handler(i)
    trigger.on_packet = lambda payload, t: None  # the broadcast acks
    sent = 0
    deadline = now() + limit
    while not done.done():
        if now() > deadline:
            raise RuntimeError(
                f"cross-node probe: {state['missing']} of {len(members)} members never got a "
                f"broadcast sent through the other node in {limit:.0f} s ({sent} probes)"
            )
        trigger.send(b'42["broadcast",{"room":"bench","data":{"probe":%d}}]' % sent)
        sent += 1
        await asyncio.wait([done], timeout=0.2)
    quiet_until = now() + 3.0
    while now() - state["last"] < 0.3 and now() < quiet_until:
        await asyncio.sleep(0.05)
    return sent


async def scenario_broadcast(args: argparse.Namespace) -> dict[str, Any]:
    cross_node = args.scenario == "broadcast-redis"
    if cross_node and args.trigger_port is None:
        raise SystemExit("broadcast-redis needs --trigger-port (the other node)")
    members, _, failures = await open_many(args.host, args.port, args.clients, args.concurrency)
    trigger, _ = await open_ws(args.host, args.trigger_port if cross_node else args.port)
    # every member joins the room (join is acknowledged)
    loop = asyncio.get_running_loop()
    pending = {"n": len(members)}
    joined = loop.create_future()

    def on_join(payload: bytes, t: float) -> None:
        if payload[:2] == b"43":
            pending["n"] -= 1
            if pending["n"] == 0 and not joined.done():
                joined.set_result(None)

    for m in members:
        m.on_packet = on_join
        m.send(b'420["join","bench"]')
    if members:
        await asyncio.wait_for(joined, 60)
    probes = await cross_node_ready(trigger, members) if cross_node and members else 0
    state = Broadcast(trigger, len(members), args.window)
    for m in members:
        m.on_packet = state.on_packet
        m.fast = state.fast
    trigger.on_packet = lambda payload, t: None  # the broadcast acks

    async def expirer() -> None:
        while True:
            await asyncio.sleep(0.1)
            state.expire()

    reaper = asyncio.ensure_future(expirer())
    state.pump()
    await asyncio.sleep(args.warmup)
    state.measuring = True
    window = Window(
        args.server_pid,
        peer_pid=args.peer_pid if cross_node else None,
        redis_pid=args.redis_pid if cross_node else None,
    )
    await asyncio.sleep(args.duration)
    state.measuring = False
    window.close()
    state.running = False
    # drain: wait for the broadcasts in flight
    deadline = now() + 3.0
    while state.open and now() < deadline:
        await asyncio.sleep(0.05)
        state.expire()
    reaper.cancel()
    sent = len(state.counts)
    expected = sent * len(members)
    received = sum(state.counts)
    disconnected = sum(1 for m in members if m.closed)
    for m in [*members, trigger]:
        m.close()
    p50, p99 = percentiles(state.latencies)
    extra = {"probes": probes} if cross_node else {}
    return {
        **extra,
        "unit": "deliveries/s",
        "rate": round(state.delivered / window.elapsed, 1),
        "count": state.delivered,
        "broadcasts": sent,
        "members": len(members),
        "expected": expected,
        "received": received,
        "lost": expected - received,
        "abandoned_broadcasts": state.abandoned,
        "unparsed": state.unparsed,
        "p50_ms": p50,
        "p99_ms": p99,
        "connect_failures": failures,
        "disconnected": disconnected,
        **window.fields(),
    }


async def scenario_connect(args: argparse.Namespace) -> dict[str, Any]:
    # a few warm-up clients, kept open, so lazy imports and caches are not counted
    warm, _, _ = await open_many(args.host, args.port, 20, 10)
    await asyncio.sleep(0.5)
    rss0 = rss_bytes(args.server_pid)
    window = Window(args.server_pid)
    clients, latencies, failures = await open_many(
        args.host, args.port, args.clients, args.concurrency
    )
    window.close()
    await asyncio.sleep(1.0)  # settle, then measure idle memory
    rss1 = rss_bytes(args.server_pid)
    disconnected = sum(1 for c in clients if c.closed)
    for c in [*warm, *clients]:
        c.close()
    p50, p99 = percentiles(latencies)
    per_conn = None
    if rss0 is not None and rss1 is not None and clients:
        per_conn = round((rss1 - rss0) / len(clients))
    return {
        "unit": "conn/s",
        "rate": round(len(clients) / window.elapsed, 1),
        "count": len(clients),
        "p50_ms": p50,
        "p99_ms": p99,
        "lost": failures,
        "connect_failures": failures,
        "disconnected": disconnected,
        "rss_before": rss0,
        "rss_after": rss1,
        "bytes_per_conn": per_conn,
        **window.fields(),
    }


SCENARIOS = {
    "echo-ws": scenario_echo_ws,
    "echo-poll": scenario_echo_poll,
    "broadcast": scenario_broadcast,
    "broadcast-redis": scenario_broadcast,
    "connect": scenario_connect,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--window", type=int, default=4, help="broadcasts in flight")
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--server-core", type=int, default=None, help="the CPU it is pinned to")
    parser.add_argument(
        "--trigger-port", type=int, default=None, help="broadcast-redis: node A (the trigger's)"
    )
    parser.add_argument(
        "--peer-pid", type=int, default=None, help="broadcast-redis: node A's pid (same core)"
    )
    parser.add_argument("--redis-pid", type=int, default=None, help="the broker's pid (reported)")
    args = parser.parse_args()
    global SERVER_CORE
    SERVER_CORE = args.server_core
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    coro = SCENARIOS[args.scenario](args)
    try:
        import uvloop

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    result["gen_bound"] = bool(result.get("gen_cpu") and result["gen_cpu"] >= 90)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
