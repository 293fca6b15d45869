"""The Python contenders of the benchmark, all exposing the same events as bench/node/server.mjs.

    python bench/servers.py --impl sw-native    --port 5000  # AsyncServer, socketwire.run, uvloop
    python bench/servers.py --impl sw-asgi      --port 5000  # AsyncServer, ASGIApp on uvicorn
    python bench/servers.py --impl sw-threaded  --port 5000  # Server, WSGIApp, socketwire.run
    python bench/servers.py --impl sw-gevent    --port 5000  # Server, WSGIApp, gevent.pywsgi
    python bench/servers.py --impl psio-asgi    --port 5000  # python-socketio ASGIApp on uvicorn
    python bench/servers.py --impl psio-gevent  --port 5000  # python-socketio gevent, pywsgi
    python bench/servers.py --impl psio-threaded --port 5000 # python-socketio threading, Werkzeug

    # one node of a Redis cluster (sw-native, sw-asgi, psio-asgi): the server's own
    # AsyncRedisManager on that pub/sub channel
    python bench/servers.py --impl sw-native --port 5000 --redis redis://127.0.0.1:6379/0 \
        --channel bench-xyz

uvicorn runs with uvloop and httptools; gevent variants monkey-patch first. Events
(namespace "/"):

- ``echo``: acknowledged with its own arguments;
- ``join`` (room): enters the room, acknowledged with the room name;
- ``broadcast`` ({"room": r, "data": d}): emits ``bcast`` (d) to every client in room r,
  acknowledged with ``true``.

An implementation that cannot be built here exits with code 3 ("not available").
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "gevent" in " ".join(sys.argv):
    from gevent import monkey

    monkey.patch_all()

import argparse
import resource
from typing import Any

PING = {"ping_interval": 25, "ping_timeout": 20}
EXIT_UNAVAILABLE = 3
#: the contenders that can join a Redis cluster (--redis): asyncio servers with AsyncRedisManager
REDIS_IMPLS = ["sw-native", "sw-asgi", "psio-asgi"]
IMPLS = [
    "sw-native",
    "sw-asgi",
    "sw-threaded",
    "sw-gevent",
    "psio-asgi",
    "psio-gevent",
    "psio-threaded",
]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def add_async_handlers(sio: Any) -> None:
    """The benchmark's events on a python-socketio-style AsyncServer."""

    @sio.on("echo")
    async def echo(sid: str, *args: Any) -> Any:
        return args

    @sio.on("join")
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return room

    @sio.on("broadcast")
    async def broadcast(sid: str, msg: dict[str, Any]) -> bool:
        await sio.emit("bcast", msg["data"], room=msg["room"])
        return True


def add_sync_handlers(sio: Any) -> None:
    """The same events on a python-socketio-style (threaded) Server."""

    @sio.on("echo")
    def echo(sid: str, *args: Any) -> Any:
        return args

    @sio.on("join")
    def join(sid: str, room: str) -> str:
        sio.enter_room(sid, room)
        return room

    @sio.on("broadcast")
    def broadcast(sid: str, msg: dict[str, Any]) -> bool:
        sio.emit("bcast", msg["data"], room=msg["room"])
        return True


def uvicorn_run(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="auto",
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=2048,
    )


def unavailable(why: str) -> None:
    print(why, file=sys.stderr)
    sys.exit(EXIT_UNAVAILABLE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", required=True, choices=IMPLS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", help="Redis URL: join a cluster through AsyncRedisManager")
    parser.add_argument("--channel", default="socketwire-bench", help="pub/sub channel (--redis)")
    args = parser.parse_args()
    raise_fd_limit()
    impl, port = args.impl, args.port
    if args.redis and impl not in REDIS_IMPLS:
        unavailable(f"{impl}: no Redis manager wired in bench/servers.py (only {REDIS_IMPLS})")
    if impl.startswith("sw-"):
        import socketwire

        if impl in ("sw-native", "sw-asgi"):
            manager = None
            if args.redis:
                manager = socketwire.AsyncRedisManager(args.redis, channel=args.channel)
            asio = socketwire.AsyncServer(cors_allowed_origins="*", client_manager=manager, **PING)
            add_async_handlers(asio)
            if impl == "sw-native":
                socketwire.run(socketwire.ASGIApp(asio), "127.0.0.1", port, log_level="warning")
            else:
                uvicorn_run(socketwire.ASGIApp(asio), port)
            return
        if not hasattr(socketwire, "Server") or not hasattr(socketwire, "WSGIApp"):
            unavailable("socketwire.Server / WSGIApp (threaded) not available in this version")
        sio = socketwire.Server(cors_allowed_origins="*", **PING)
        add_sync_handlers(sio)
        if impl == "sw-threaded":
            socketwire.run(socketwire.WSGIApp(sio), "127.0.0.1", port, log_level="warning")
        else:
            try:
                from socketwire.transports.gevent_server import serve
            except ImportError as exc:
                unavailable(f"socketwire gevent transport not available: {exc}")
            serve(socketwire.WSGIApp(sio), "127.0.0.1", port)
        return

    import socketio

    if impl == "psio-asgi":
        pmanager = None
        if args.redis:
            pmanager = socketio.AsyncRedisManager(args.redis, channel=args.channel)
        asio = socketio.AsyncServer(
            async_mode="asgi", cors_allowed_origins="*", client_manager=pmanager, **PING
        )
        add_async_handlers(asio)
        uvicorn_run(socketio.ASGIApp(asio), port)
    elif impl == "psio-gevent":
        from gevent import pywsgi

        sio = socketio.Server(async_mode="gevent", cors_allowed_origins="*", **PING)
        add_sync_handlers(sio)
        pywsgi.WSGIServer(("127.0.0.1", port), socketio.WSGIApp(sio), log=None).serve_forever()
    else:  # psio-threaded: the threading mode on Werkzeug's threaded server (simple-websocket)
        from werkzeug.serving import run_simple

        sio = socketio.Server(async_mode="threading", cors_allowed_origins="*", **PING)
        add_sync_handlers(sio)
        run_simple("127.0.0.1", port, socketio.WSGIApp(sio), threaded=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
