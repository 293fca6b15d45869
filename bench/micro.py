"""Python cost per message on the native server's hot path, without sockets.

Feeds real WebSocket frames into :class:`socketwire.transports.native.HttpProtocol` objects
whose transport only records writes, through a real ``AsyncServer``: what remains is the
socketwire Python work per echo + ack (frame parse, packet decode, dispatch, handler, ack
encode, frame, write call) and per broadcast delivery. A profiling aid, not a benchmark of
the server (no kernel, no event loop I/O): ``python bench/micro.py [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import time
from typing import Any

import socketwire
from socketwire.transports.http_limits import HttpLimits
from socketwire.transports.native import Connections, HttpProtocol, _as_app


class Transport:
    __slots__ = ("last", "written")

    def __init__(self) -> None:
        self.written = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        self.written += 1
        self.last = data

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0  # a client that reads everything at once

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


def masked(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    return head + mask + body


UPGRADE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\n\r\n"
)


async def main(args: argparse.Namespace) -> None:
    sio = socketwire.AsyncServer(ping_interval=25, ping_timeout=20)

    @sio.on("echo")
    async def echo(sid: str, *data: Any) -> Any:
        return data

    @sio.on("broadcast")
    async def broadcast(sid: str, msg: dict[str, Any]) -> bool:
        await sio.emit("bcast", msg["data"], room=msg["room"])
        return True

    @sio.on("join")
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return room

    app = _as_app(sio)
    # the rounds run for seconds each: no idle or header timeouts between them
    registry = Connections(HttpLimits(header_timeout=None, keep_alive_timeout=None))
    conns = []
    for _ in range(args.clients):
        proto = HttpProtocol(app, "http", registry)
        proto.connection_made(Transport())  # type: ignore[arg-type]
        proto.data_received(UPGRADE)
        proto.data_received(masked("40"))
        await asyncio.sleep(0)  # a client waits for the CONNECT answer
        proto.data_received(masked('421["join","r"]'))
        await asyncio.sleep(0)
        conns.append(proto)
    frames = [masked(f'42{i}["echo",{{"n":{i},"s":"hello"}}]') for i in range(100)]

    def polling_client() -> tuple[HttpProtocol, HttpProtocol, str]:
        get, post = HttpProtocol(app, "http", registry), HttpProtocol(app, "http", registry)
        for proto in (get, post):
            proto.connection_made(Transport())  # type: ignore[arg-type]
        get.data_received(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        last = get.transport.last  # type: ignore[union-attr]
        sid = last.split(b'"sid":"')[1].split(b'"')[0].decode()
        return get, post, sid

    def poll_get(sid: str) -> bytes:
        url = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        return f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    def poll_post(sid: str, body: str) -> bytes:
        return (
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    pollers = []
    for _ in range(args.clients):
        get, post, sid = polling_client()
        post.data_received(poll_post(sid, "40"))
        await asyncio.sleep(0)
        get.data_received(poll_get(sid))  # the CONNECT answer
        get.data_received(poll_get(sid))  # parked
        posts = [poll_post(sid, f'42{i}["echo",{{"n":{i}}}]') for i in range(100)]
        pollers.append((get, post, posts, poll_get(sid)))

    def written(protos: list[HttpProtocol]) -> int:
        return sum(proto.transport.written for proto in protos)  # type: ignore[union-attr]

    # Each round counts what the server really wrote: an ack or delivery per write.
    gets = [get for get, _, _, _ in pollers]

    async def polling_round() -> int:
        before = written(gets)
        for i in range(100):
            for _, post, posts, _ in pollers:
                post.data_received(posts[i])
            await asyncio.sleep(0)
            for get, _, _, next_get in pollers:
                get.data_received(next_get)  # the parked poll got the ack: poll again
            await asyncio.sleep(0)
        return written(gets) - before

    trigger = masked('42["broadcast",{"room":"r","data":{"n":1}}]')

    async def echo_round() -> int:
        # each client's frame arrives in the same loop iteration, as under load
        before = written(conns)
        for frame in frames:
            for proto in conns:
                proto.data_received(frame)
            await asyncio.sleep(0)
        return written(conns) - before

    async def broadcast_round() -> int:
        before = written(conns)
        for _ in range(20):
            conns[0].data_received(trigger)
            await asyncio.sleep(0)
        return written(conns) - before

    rounds = (
        ("echo+ack", echo_round),
        ("broadcast delivery", broadcast_round),
        ("polling echo+ack", polling_round),
    )
    for name, fn in rounds:
        await fn()
        prof = cProfile.Profile() if args.profile else None
        start = time.process_time()
        count = 0
        while time.process_time() - start < args.seconds:
            if prof:
                prof.enable()
            count += await fn()
            if prof:
                prof.disable()
        elapsed = time.process_time() - start
        if not count:
            raise SystemExit(f"{name}: the server wrote nothing: the hot path is broken")
        print(f"{name}: {elapsed / count * 1e6:.2f} us of Python per message ({count} messages)")
        if prof:
            stats = pstats.Stats(prof)
            calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
            print(f"  {calls / count:.1f} Python calls per message")
            stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:
        run = asyncio.run
    run(main(parser.parse_args()))
