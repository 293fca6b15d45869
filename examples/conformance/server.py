"""The server contract of the upstream Engine.IO / Socket.IO protocol test suites
(../shared/conformance/README.md, "Server contract"), on socketwire.

    python examples/conformance/server.py --mode native       # AsyncServer, native server
    python examples/conformance/server.py --mode asgi         # AsyncServer, ASGIApp, uvicorn
    python examples/conformance/server.py --mode native-sync  # Server (threads), native server
    python examples/conformance/server.py --mode wsgi         # Server, WSGIApp, gunicorn gthread
    python examples/conformance/server.py --mode werkzeug     # Server, WSGIApp, Werkzeug
    python examples/conformance/server.py --mode gevent       # Server, WSGIApp, gevent.pywsgi
    python examples/conformance/server.py --mode gunicorn-gevent  # ... gunicorn -k gevent
    python examples/conformance/server.py --mode gunicorn-geventwebsocket  # gevent-websocket
    python examples/conformance/server.py --mode eventlet     # Server, WSGIApp, eventlet.wsgi
    python examples/conformance/server.py --mode sanic        # AsyncServer attached to Sanic
    python examples/conformance/server.py --mode uwsgi-gevent # Server, WSGIApp, uWSGI gevent
    python examples/conformance/server.py --mode uwsgi-threads  # ... uWSGI --threads 100
    python examples/conformance/server.py --mode gunicorn-eventlet  # gunicorn 25 -k eventlet

127.0.0.1:3000; /engine.io/ is a plain Engine.IO echo server, /socket.io/ a Socket.IO
server with the namespaces "/" and "/custom".
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import socketwire

COMMON: dict[str, Any] = dict(
    ping_interval=0.3,
    ping_timeout=0.2,
    max_http_buffer_size=1_000_000,
    cors_allowed_origins="*",
)


def async_app(attach_to: Any = None) -> socketwire.ASGIApp:
    """The asyncio servers as one ASGI app, or attached to ``attach_to`` (a Sanic app)."""
    eio = socketwire.AsyncEngineServer(**COMMON)
    sio = socketwire.AsyncServer(connect_timeout=1.0, **COMMON)

    @eio.on("message")
    async def echo(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.emit("auth", auth if auth is not None else {}, to=sid)

    @sio.on("message")
    async def message(sid: str, *args: object) -> None:
        await sio.emit("message-back", args, to=sid)

    @sio.on("message-with-ack")
    async def message_with_ack(sid: str, *args: object) -> tuple[object, ...]:
        return args

    @sio.on("connect", namespace="/custom")
    async def custom_connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.emit("auth", auth if auth is not None else {}, to=sid, namespace="/custom")

    if attach_to is not None:
        eio.attach(attach_to, "engine.io")
        sio.attach(attach_to)
    return socketwire.ASGIApp(
        sio, other_asgi_app=socketwire.ASGIApp(eio, engineio_path="engine.io")
    )


def sync_app() -> socketwire.WSGIApp:
    eio = socketwire.EngineServer(**COMMON)
    sio = socketwire.Server(connect_timeout=1.0, **COMMON)

    @eio.on("message")
    def echo(sid: str, data: str | bytes) -> None:
        eio.send(sid, data)

    @sio.on("connect")
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        sio.emit("auth", auth if auth is not None else {}, to=sid)

    @sio.on("message")
    def message(sid: str, *args: object) -> None:
        sio.emit("message-back", args, to=sid)

    @sio.on("message-with-ack")
    def message_with_ack(sid: str, *args: object) -> tuple[object, ...]:
        return args

    @sio.on("connect", namespace="/custom")
    def custom_connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        sio.emit("auth", auth if auth is not None else {}, to=sid, namespace="/custom")

    return socketwire.WSGIApp(sio, wsgi_app=socketwire.WSGIApp(eio, engineio_path="engine.io"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--mode",
        choices=[
            "native",
            "asgi",
            "native-sync",
            "wsgi",
            "werkzeug",
            "gevent",
            "gunicorn-gevent",
            "gunicorn-geventwebsocket",
            "eventlet",
            "sanic",
            "uwsgi-gevent",
            "uwsgi-threads",
            "gunicorn-eventlet",
        ],
        default="native",
    )
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    if args.mode == "native":
        socketwire.run(async_app(), "127.0.0.1", args.port, log_level="warning")
    elif args.mode == "asgi":
        import uvicorn

        uvicorn.run(
            async_app(),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            ws=os.environ.get("UVICORN_WS", "auto"),
        )
    elif args.mode in ("uwsgi-gevent", "uwsgi-threads"):  # Flask-SocketIO's uWSGI command
        loop = ["--gevent", "1000"] if args.mode == "uwsgi-gevent" else ["--threads", "100"]
        uwsgi = os.path.join(os.path.dirname(sys.executable), "uwsgi")
        here = os.path.dirname(os.path.abspath(__file__))
        os.execv(
            uwsgi,
            [
                uwsgi, "--http", f"127.0.0.1:{args.port}", *loop, "--http-websockets",
                "--master", "--wsgi-file", os.path.join(here, "server.py"),
                "--callable", "uwsgi_app", "--die-on-term", "--disable-logging",
            ],
        )  # fmt: skip
    elif args.mode == "sanic":
        from sanic import Sanic

        app = Sanic("conformance")
        async_app(attach_to=app)
        app.run(host="127.0.0.1", port=args.port, single_process=True, access_log=False)
    elif args.mode == "native-sync":
        socketwire.run(sync_app(), "127.0.0.1", args.port, log_level="warning")
    elif args.mode == "werkzeug":
        from werkzeug.serving import run_simple

        run_simple("127.0.0.1", args.port, sync_app(), threaded=True)
    elif args.mode == "eventlet":  # monkey-patched below, before anything else ran
        from socketwire.transports.eventlet_server import serve as serve_eventlet

        serve_eventlet(sync_app(), "127.0.0.1", args.port)
    elif args.mode == "gevent":  # monkey-patched below, before anything else ran
        from socketwire.transports.gevent_server import serve

        serve(sync_app(), "127.0.0.1", args.port)
    else:  # gunicorn: gthread workers (wsgi) or gevent workers (gunicorn-gevent)
        worker = {
            "gunicorn-gevent": ["-k", "gevent"],
            "gunicorn-geventwebsocket": [
                "-k",
                "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            ],
            # gunicorn 25.x, the last with this worker: SW_GUNICORN_PATH holds one
            "gunicorn-eventlet": ["-k", "eventlet"],
        }.get(args.mode, ["-k", "gthread"])
        if os.environ.get("SW_GUNICORN_PATH"):
            os.environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (os.environ["SW_GUNICORN_PATH"], os.environ.get("PYTHONPATH")) if p
            )
        here = os.path.dirname(os.path.abspath(__file__))
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--chdir",
                here,
                *worker,
                "--threads",
                "100",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{args.port}",
                "--log-level",
                "warning",
                "server:wsgi_app()",
            ],
        )


def wsgi_app() -> socketwire.WSGIApp:
    """For gunicorn: ``gunicorn 'server:wsgi_app()'``."""
    return sync_app()


try:
    import uwsgi  # noqa: F401  (exists only inside a uWSGI worker)
except ImportError:
    pass
else:
    uwsgi_app = sync_app()  # what --callable names

if __name__ == "__main__":
    if "gevent" in sys.argv or "--mode=gevent" in sys.argv:
        from gevent import monkey

        monkey.patch_all()
    elif "eventlet" in sys.argv or "--mode=eventlet" in sys.argv:
        import eventlet

        eventlet.monkey_patch()
    main()
