"""The native server's HTTP limits (transports/http_limits.py): each attack of the hardening
issue, raw on the wire, while well-behaved witnesses keep every broadcast and ack
(:func:`guarded`). Timeouts are set small so the tests take seconds."""

from __future__ import annotations

import asyncio
import logging
import resource

import pytest

from .conftest import HOST, App, Runner, Wire, guarded, wait_until
from .wire import PATH

# the native server's own limits: every test runs on it alone
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.parametrize("server", ["native"], indirect=True),
]


async def connect(server: Runner) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, server.port, limit=2**22)


async def status_of(reader: asyncio.StreamReader, timeout: float = 5) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout)
    assert line.startswith(b"HTTP/1.1 "), line
    return int(line.split()[1])


async def closed(reader: asyncio.StreamReader, timeout: float = 5) -> bytes:
    """Everything until the server closes the connection (bounded)."""
    return await asyncio.wait_for(reader.read(-1), timeout)


async def open_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """An Engine.IO polling handshake on this connection; its sid."""
    writer.write(f"GET {PATH}?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert await status_of(reader) == 200
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return (await reader.readexactly(length)).split(b'"sid":"')[1].split(b'"')[0].decode()


async def test_huge_header_and_url_get_431(server: Runner, wire: Wire) -> None:
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers):
        for head in (b"GET / HTTP/1.1\r\nX-Big: ", b"GET /"):
            reader, writer = await connect(server)
            writer.write(head + b"x" * 20 * 1024)  # just over 16 KiB, never terminated
            answer = await closed(reader)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
            writer.close()


async def test_a_150_mb_header_is_cut_off_early(server: Runner, wire: Wire) -> None:
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with guarded(app, *peers):
        _, writer = await connect(server)
        sent = 0
        with pytest.raises((ConnectionError, OSError)):
            writer.write(b"GET / HTTP/1.1\r\nX-Big: ")
            while sent < 150 * 2**20:
                writer.write(b"x" * 64 * 1024)
                await asyncio.wait_for(writer.drain(), 5)
                sent += 64 * 1024
        assert sent < 50 * 2**20, f"the server took {sent >> 20} MB of one header"
        writer.close()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50, f"RSS grew {grown_mb:.0f} MB"


async def test_slowloris_connections_time_out_and_others_go_on(server: Runner, wire: Wire) -> None:
    app = App()
    await server.start(app, header_timeout=1.0)
    peers = await wire.witnesses()
    conns = [await connect(server) for _ in range(200)]
    async with guarded(app, *peers):
        for _, writer in conns:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        ends = [asyncio.ensure_future(closed(reader, 8)) for reader, _ in conns]

        async def trickle() -> None:  # one more byte now and then, never the end of the head
            while not all(end.done() for end in ends):
                for end, (_, writer) in zip(ends, conns, strict=True):
                    if not end.done() and not writer.is_closing():
                        writer.write(b"a")
                await asyncio.sleep(0.2)

        trickling = asyncio.ensure_future(trickle())
        answers = await asyncio.gather(*ends)
        await trickling
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
    for _, writer in conns:
        writer.close()


async def test_silent_and_idle_keep_alive_connections_are_closed(
    server: Runner, wire: Wire
) -> None:
    app = App()
    await server.start(app, header_timeout=1.0, keep_alive_timeout=1.0)
    silent_reader, silent = await connect(server)
    reader, writer = await connect(server)
    writer.write(f"GET {PATH}?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert await status_of(reader) == 200
    assert await closed(silent_reader, 5) == b""  # closed without an answer
    rest = await closed(reader, 5)  # the rest of the 200, then the close
    assert b"HTTP/1.1" not in rest
    silent.close()
    writer.close()


async def test_a_stalled_body_gets_408(server: Runner, wire: Wire) -> None:
    app = App()
    await server.start(app, body_timeout=1.0)
    reader, writer = await connect(server)
    sid = await open_session(reader, writer)
    writer.write(
        f"POST {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 100\r\n\r\n40".encode()
    )
    answer = await closed(reader, 5)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    writer.close()


async def test_a_body_nothing_takes_is_refused_before_it_is_read(
    server: Runner, wire: Wire
) -> None:
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers):
        reader, writer = await connect(server)
        writer.write(b"POST /nothing/here HTTP/1.1\r\nHost: x\r\nContent-Length: 94371840\r\n\r\n")
        await writer.drain()
        # answered with the headers alone: not one byte of the 90 MB body was sent
        assert await status_of(reader) == 404
        assert await closed(reader) is not None
        writer.close()


@pytest.mark.parametrize("count", [3000, 30000])
async def test_pipelined_requests_behind_a_parked_poll(
    server: Runner, wire: Wire, count: int, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(ping_interval=1, ping_timeout=5)
    await server.start(app)
    peers = await wire.witnesses()
    caplog.set_level(logging.ERROR)
    async with guarded(app, *peers):
        reader, writer = await connect(server)
        sid = await open_session(reader, writer)
        poll = f"GET {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"
        junk = b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" * count
        writer.write(poll.encode() + junk)  # the poll parks until the next ping (1 s)
        answers = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while answers.count(b"HTTP/1.1 404 ") < count:
            assert loop.time() < deadline, f"{answers.count(b'HTTP/1.1 404 ')} of {count}"
            chunk = await asyncio.wait_for(reader.read(2**20), 10)
            assert chunk, "closed early"
            answers += chunk
        assert answers.startswith(b"HTTP/1.1 200 ")  # the poll first: responses in order
        writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_connections_over_limit_concurrency_get_503(server: Runner, wire: Wire) -> None:
    app = App()
    await server.start(app, limit_concurrency=5)
    held = [await connect(server) for _ in range(5)]
    await wait_until(lambda: len(server._native.connections) == 5, what="5 connections")  # type: ignore[union-attr]
    reader, writer = await connect(server)
    assert await status_of(reader) == 503
    writer.close()
    for _, w in held:
        w.close()
    await wait_until(lambda: not server._native.connections, what="all closed")  # type: ignore[union-attr]
    reader, writer = await connect(server)  # room again
    writer.write(f"GET {PATH}?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert await status_of(reader) == 200
    writer.close()


def test_unknown_limit_is_a_clear_error(server: Runner) -> None:
    import socketwire

    with pytest.raises(TypeError, match="max_heder_size"):
        socketwire.run(socketwire.AsyncServer(), max_heder_size=1)
