"""The soak and abuse test: every attack of the hardening issue, one after another, against
one native server process (asyncio runtime, then threaded), while two well-behaved
python-socketio clients (WebSocket and long-polling) call ``echo`` every 20 ms and count a
broadcast the server sends every 50 ms.

For each attack, the stated bounds (README "Security"):

* each witness gets >= 99% of its acks within 1 s, and none fails;
* no witness misses a broadcast (the sequence numbers it got have no gap);
* the server's RSS never grows more than ``RSS_BOUND_MB`` over its level before the attacks.

Each attack also checks its own outcome (a refusal, a close code, a dropped attacker)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import socketio

pytestmark = [pytest.mark.timeout(300)]

HOST = "127.0.0.1"
APP = Path(__file__).parent / "apps" / "soak_server.py"
RSS_BOUND_MB = 150
ECHO_EVERY = 0.02
ACK_WITHIN = 1.0
EIO = "/socket.io/?EIO=4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def ws_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame, masked with a zero key (so the payload goes as written)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 65536:
        head = bytes([first, 0x80 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, 0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\x00\x00\x00\x00" + payload


class Witness:
    """A well-behaved client: an acked echo every 20 ms, every broadcast counted."""

    def __init__(self, url: str, transport: str) -> None:
        self.url = url
        self.transport = transport
        self.client = socketio.AsyncClient(reconnection=False)
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.ticks: list[int] = []
        self.client.on("tick", self.ticks.append)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.connect(self.url, transports=[self.transport], wait_timeout=10)
        self._task = asyncio.ensure_future(self._echo())

    async def _echo(self) -> None:
        n = 0
        while True:
            n += 1
            started = time.monotonic()
            try:
                reply = await self.client.call("echo", n, timeout=5)
                if reply != [n]:
                    self.failures.append(f"echo {n} came back as {reply!r}")
            except Exception as exc:  # recorded: the phase fails on it
                self.failures.append(f"echo {n}: {exc!r}")
            self.latencies.append(time.monotonic() - started)
            await asyncio.sleep(ECHO_EVERY)

    def reset(self) -> None:
        self.latencies.clear()
        self.failures.clear()
        self.ticks.clear()

    def check(self, phase: str) -> None:
        who = f"{phase}: {self.transport} witness"
        assert self.client.connected, f"{who} was disconnected"
        assert not self.failures, f"{who}: {self.failures[:3]}"
        assert len(self.latencies) >= 10, f"{who} made only {len(self.latencies)} calls"
        late = sum(1 for t in self.latencies if t > ACK_WITHIN)
        assert late <= len(self.latencies) * 0.01, (
            f"{who}: {late} of {len(self.latencies)} acks over {ACK_WITHIN} s "
            f"(worst {max(self.latencies):.2f} s)"
        )
        assert self.ticks, f"{who} got no broadcast"
        missing = set(range(self.ticks[0], self.ticks[-1] + 1)) - set(self.ticks)
        assert not missing, f"{who} missed broadcasts {sorted(missing)[:5]}"

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 10)
        await asyncio.wait_for(self.client.disconnect(), 10)


# ------------------------------------------------------------------ the attacks


async def http_exchange(port: int, request: bytes, timeout: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return await asyncio.wait_for(reader.read(1 << 20), timeout)
    finally:
        writer.transport.abort()


async def traversal(port: int, static_dir: Path) -> None:
    for path in (
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/ok.txt%00.png",
    ):
        reply = await http_exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert b"root:" not in reply, path
        assert not reply.startswith(b"HTTP/1.1 200"), (path, reply[:80])
    reply = await http_exchange(port, b"GET /static/ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"fine"), reply[:200]


async def huge_header(port: int, static_dir: Path) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(b"GET /static/ok.txt HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * 65536
        with contextlib.suppress(ConnectionError):
            for _ in range(2300):  # up to 150 MB, until the server stops it
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 5)
        reply = await asyncio.wait_for(reader.read(4096), 5)
        assert reply.startswith(b"HTTP/1.1 431") or reply == b"", reply[:80]
    except ConnectionError:
        pass  # cut off
    finally:
        writer.transport.abort()


async def slowloris(port: int, static_dir: Path) -> None:
    conns = []
    try:
        for _ in range(400):
            conns.append(await asyncio.open_connection(HOST, port))
        for i in range(6):  # a byte a connection every half second, for 3 s
            for _, writer in conns:
                writer.write(b"GET / HTTP/1.1\r\n"[i : i + 1])
            await asyncio.sleep(0.5)
    finally:
        for _, writer in conns:
            writer.transport.abort()


async def big_bodies(port: int, static_dir: Path) -> None:
    async def one() -> bytes:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 94371840\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                for _ in range(160):  # 10 MB of the 90 declared
                    writer.write(b"b" * 65536)
                    await asyncio.wait_for(writer.drain(), 5)
            return await asyncio.wait_for(reader.read(4096), 5)
        except ConnectionError:
            return b""
        finally:
            writer.transport.abort()

    for reply in await asyncio.gather(one(), one(), one()):
        assert reply == b"" or reply.startswith(b"HTTP/1.1 404"), reply[:80]


async def polling_session(http: aiohttp.ClientSession, port: int) -> str:
    async with http.get(f"http://{HOST}:{port}{EIO}&transport=polling") as r:
        sid = (await r.text()).split('"sid":"')[1].split('"')[0]
    async with http.post(f"http://{HOST}:{port}{EIO}&transport=polling&sid={sid}", data="40") as r:
        assert r.status == 200
    return sid


async def pipelined(port: int, static_dir: Path) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, port)
    poll = f"GET {EIO}&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(poll * 3000)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            while await asyncio.wait_for(reader.read(65536), 3):
                pass
    finally:
        writer.transport.abort()


async def raw_ws(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        f"GET {EIO}&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def read_frames(reader: asyncio.StreamReader, until: float) -> list[tuple[int, bytes]]:
    frames = []
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
        while True:
            left = until - time.monotonic()
            head = await asyncio.wait_for(reader.readexactly(2), max(0.01, left))
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            frames.append((head[0] & 0x0F, await reader.readexactly(n)))
            if frames[-1][0] == 0x8:
                break
    return frames


async def integer_event_names(port: int, static_dir: Path) -> None:
    for _ in range(20):
        reader, writer = await raw_ws(port)
        try:
            writer.write(ws_frame(0x1, b"40/chat,"))
            writer.write(ws_frame(0x1, b'42/chat,1[123,"x"]'))
            writer.write(ws_frame(0x1, b'42/chat,2["msg","hi"]'))
            until = time.monotonic() + 2
            frames: list[tuple[int, bytes]] = []
            while not any(data.startswith(b"43/chat,") for _, data in frames):
                assert time.monotonic() < until, frames  # no handler, no harm: it goes on
                frames += await read_frames(reader, min(until, time.monotonic() + 0.2))
            assert (0x1, b'43/chat,2["hi"]') in frames, frames
        finally:
            writer.transport.abort()


async def deep_binary(port: int, static_dir: Path) -> None:
    for depth in (990, 5000):
        reader, writer = await raw_ws(port)
        try:
            nested = b"[" * depth + b'{"_placeholder":true,"num":0}' + b"]" * depth
            writer.write(ws_frame(0x1, b'451-["e",' + nested + b"]"))
            writer.write(ws_frame(0x2, b"\x01\x02"))
            frames = await read_frames(reader, time.monotonic() + 2)
            assert frames and frames[-1][0] == 0x8, frames[-3:]
        finally:
            writer.transport.abort()


async def never_reads(port: int, static_dir: Path) -> None:
    """Asks for 60 MB of echoes and reads none of them: dropped at max_buffered_bytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.connect((HOST, port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET {EIO}&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(ws_frame(0x1, b"40"))
        big = ws_frame(0x1, b'420["echo","' + b"z" * 500_000 + b'"]')
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            for _ in range(120):
                writer.write(big)
                await asyncio.wait_for(writer.drain(), 2)
    finally:
        writer.transport.abort()


async def never_polls(port: int, static_dir: Path) -> None:
    """POSTs echoes (and pongs) and never GETs: dropped at max_buffered_bytes/packets."""
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, port)
        url = f"http://{HOST}:{port}{EIO}&transport=polling&sid={sid}"
        body = "\x1e".join(['420["echo","' + "p" * 100_000 + '"]'] * 9 + ["3"])
        for _ in range(40):  # 36 MB of replies if nothing stopped it
            async with http.post(url, data=body) as r:
                if r.status != 200:
                    return  # dropped
        raise AssertionError("a client that never polls was never dropped")


async def handler_flood(port: int, static_dir: Path) -> None:
    reader, writer = await raw_ws(port)
    try:
        writer.write(ws_frame(0x1, b"40"))
        await read_frames(reader, time.monotonic() + 0.5)
        frame = ws_frame(0x1, b'42["slow"]')
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            for _ in range(50):  # 50,000 events at a handler that waits 2 s
                writer.write(frame * 1000)
                await asyncio.wait_for(writer.drain(), 0.2)
        await asyncio.sleep(2)
    finally:
        writer.transport.abort()


async def polling_flood(port: int, static_dir: Path) -> None:
    async with aiohttp.ClientSession() as http:
        sids = [await polling_session(http, port) for _ in range(4)]

        async def post(sid: str) -> None:
            url = f"http://{HOST}:{port}{EIO}&transport=polling&sid={sid}"
            body = "\x1e".join(['42["echo",1]'] * 69_000)  # 0.9 MB
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with http.post(url, data=body, timeout=aiohttp.ClientTimeout(10)) as r:
                    await r.read()

        await asyncio.gather(*(post(sid) for sid in sids))


async def bad_frames(port: int, static_dir: Path) -> None:
    for frame in (
        ws_frame(0xB, b"x"),  # reserved opcode
        ws_frame(0x8, b"\x03"),  # a close payload of one byte
        ws_frame(0x8, struct.pack("!H", 5000)),  # a close code nobody may send
    ):
        reader, writer = await raw_ws(port)
        try:
            writer.write(frame)
            frames = await read_frames(reader, time.monotonic() + 2)
            assert frames and frames[-1][0] == 0x8, frames
            assert struct.unpack("!H", frames[-1][1][:2])[0] == 1002, frames[-1]
        finally:
            writer.transport.abort()


ATTACKS: list[Callable[[int, Path], Awaitable[None]]] = [
    traversal,
    huge_header,
    slowloris,
    big_bodies,
    pipelined,
    integer_event_names,
    deep_binary,
    never_reads,
    never_polls,
    handler_flood,
    polling_flood,
    bad_frames,
]


@pytest.mark.parametrize("mode", ["async", "threads"])
async def test_every_attack_leaves_the_witnesses_alone(mode: str, tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    (tmp_path / "ok.txt").write_text("fine")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(APP), mode, str(port), str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    witnesses: list[Witness] = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.strip() == b"ready", line
        url = f"http://{HOST}:{port}"
        witnesses = [Witness(url, "websocket"), Witness(url, "polling")]
        for witness in witnesses:
            await witness.start()
        await asyncio.sleep(1)
        baseline = rss_mb(proc.pid)
        peak = baseline
        for attack in ATTACKS:
            for witness in witnesses:
                witness.reset()
            task = asyncio.ensure_future(attack(port, tmp_path))
            while not task.done():
                peak = max(peak, rss_mb(proc.pid))
                await asyncio.wait({task}, timeout=0.05)
            task.result()
            await asyncio.sleep(0.5)  # the witnesses' last calls of this phase come back
            assert proc.poll() is None, f"the server died during {attack.__name__}"
            for witness in witnesses:
                witness.check(attack.__name__)
            grown = peak - baseline
            assert grown < RSS_BOUND_MB, f"{attack.__name__}: RSS grew {grown:.0f} MB"
            print(f"{mode} {attack.__name__}: RSS peak +{grown:.0f} MB")
    finally:
        for witness in witnesses:
            with contextlib.suppress(Exception):
                await witness.stop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
