"""The server the soak test attacks: socketwire's native server in its own process (so its
RSS is measured alone), on the asyncio runtime or the threaded one.

    python soak_server.py async|threads PORT STATIC_DIR

It serves ``echo`` (acks its arguments), ``slow`` (a handler that waits two seconds), a
class-based namespace ``/chat``, ``STATIC_DIR`` at ``/static`` and a broadcast ``tick`` with a
sequence number every 50 ms to every client; ``ready`` on stdout once it listens."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

import socketwire

mode, port, static_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TICK = 0.05
app: Any

if mode == "threads":
    sio: Any = socketwire.Server(max_http_buffer_size=1_000_000)

    class Chat(socketwire.Namespace):
        def on_msg(self, sid: str, data: Any) -> Any:
            return data

    @sio.on("slow")
    def slow(sid: str, *args: Any) -> None:
        time.sleep(2)

    def ticker() -> None:
        seq = 0
        while True:
            sio.sleep(TICK)
            seq += 1
            sio.emit("tick", seq)

    sio.register_namespace(Chat("/chat"))
    threading.Thread(target=ticker, daemon=True).start()
    app = socketwire.WSGIApp(sio, static_files={"/static": static_dir})
else:
    sio = socketwire.AsyncServer(max_http_buffer_size=1_000_000)

    class AsyncChat(socketwire.AsyncNamespace):
        async def on_msg(self, sid: str, data: Any) -> Any:
            return data

    @sio.on("slow")
    async def aslow(sid: str, *args: Any) -> None:
        await asyncio.sleep(2)

    async def aticker() -> None:
        seq = 0
        while True:
            await asyncio.sleep(TICK)
            seq += 1
            await sio.emit("tick", seq)

    sio.register_namespace(AsyncChat("/chat"))
    app = socketwire.ASGIApp(sio, static_files={"/static": static_dir})


@sio.on("echo")
def echo(sid: str, *args: Any) -> Any:
    return list(args)


async def main() -> None:
    server = await socketwire.create_server(app, "127.0.0.1", port)
    ticking = asyncio.ensure_future(aticker()) if mode != "threads" else None
    print("ready", flush=True)
    await server.serve_forever()
    del ticking


asyncio.run(main())
