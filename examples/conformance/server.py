"""The server contract of the upstream Engine.IO / Socket.IO protocol test suites
(../shared/conformance/README.md, "Server contract"), on socketwire.

    python examples/conformance/server.py --mode native   # socketwire's own server
    python examples/conformance/server.py --mode asgi     # the ASGIApp under uvicorn

127.0.0.1:3000; /engine.io/ is a plain Engine.IO echo server, /socket.io/ a Socket.IO
server with the namespaces "/" and "/custom".
"""

from __future__ import annotations

import argparse
import os

import socketwire

COMMON = dict(
    ping_interval=0.3,
    ping_timeout=0.2,
    max_http_buffer_size=1_000_000,
    cors_allowed_origins="*",
)

eio = socketwire.AsyncEngineServer(**COMMON)


@eio.on("message")
async def echo(sid: str, data: str | bytes) -> None:
    await eio.send(sid, data)


sio = socketwire.AsyncServer(connect_timeout=1.0, **COMMON)


@sio.on("connect")
async def connect(sid: str, environ: dict, auth: dict | None) -> None:
    await sio.emit("auth", auth if auth is not None else {}, to=sid)


@sio.on("message")
async def message(sid: str, *args: object) -> None:
    await sio.emit("message-back", args, to=sid)


@sio.on("message-with-ack")
async def message_with_ack(sid: str, *args: object) -> tuple[object, ...]:
    return args


@sio.on("connect", namespace="/custom")
async def custom_connect(sid: str, environ: dict, auth: dict | None) -> None:
    await sio.emit("auth", auth if auth is not None else {}, to=sid, namespace="/custom")


app = socketwire.ASGIApp(sio, other_asgi_app=socketwire.ASGIApp(eio, engineio_path="engine.io"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["native", "asgi"], default="native")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    if args.mode == "native":
        socketwire.run(app, "127.0.0.1", args.port, log_level="warning")
    else:
        import uvicorn

        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            ws=os.environ.get("UVICORN_WS", "auto"),
        )


if __name__ == "__main__":
    main()
