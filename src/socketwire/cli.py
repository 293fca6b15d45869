"""``socketwire run module:attr``: serve an application on the native server.

With ``--workers N`` (N > 1) the command is a supervisor: it starts N worker processes that
all listen on the same port (``SO_REUSEPORT``: the kernel spreads new connections over them),
restarts a worker that dies, and stops them all on SIGTERM or SIGINT. Workers of an app
configured with a message queue (``client_manager=``) form one cluster. HTTP long-polling
needs every request of a session on the worker that owns it, which ``SO_REUSEPORT`` does not
guarantee: serve polling clients through a sticky load balancer (nginx ``ip_hash``, one port
per worker) or use WebSocket only (``transports=['websocket']`` on the clients).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from .managers.base import AsyncManager, ManagerBase, ThreadManager
from .transports import routing
from .transports.http_limits import HttpLimits
from .transports.native import _as_app, serve

__all__ = ["load", "main", "supervise"]

logger = logging.getLogger("socketwire.cli")

#: a worker that dies sooner than this after its start counts as a failed start
QUICK_DEATH = 2.0
#: consecutive failed starts of one worker after which the supervisor gives up
MAX_QUICK_DEATHS = 5
#: how long stopping workers get before they are killed
STOP_TIMEOUT = 10.0


class TargetError(Exception):
    """``module:attribute`` names nothing servable; the message is one line for the user."""


def load(target: str) -> Any:
    """Import ``module:attribute`` (attribute may be dotted); the current directory is on
    the path, as with uvicorn. Raises :class:`TargetError` with a one-line reason."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise TargetError(f"expected module:attribute (e.g. app:sio), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise TargetError(
                f"no module named {module_name!r} (looked in {os.getcwd()} and sys.path)"
            ) from None
        raise  # the module exists but an import inside it failed: show the traceback
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    try:
        _as_app(obj)
    except TypeError as exc:
        raise TargetError(f"{target}: {exc}") from None
    return obj


def _manager_of(app: Any) -> ManagerBase | None:
    """The message-queue manager of the socketwire server inside ``app``, if any."""
    server = app.server if isinstance(app, routing.Mount) else app
    manager = getattr(server, "manager", None)
    return manager if isinstance(manager, ManagerBase) else None


async def _serve(app: Any, host: str, port: int, **options: Any) -> None:
    """Serve until SIGTERM/SIGINT; the cluster manager subscribes at startup (not at the
    first connection) and flushes its queue on the way out."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    manager = _manager_of(app)
    if isinstance(manager, AsyncManager):
        manager.start()
    serving = loop.create_task(serve(app, host, port, **options))
    stopping = loop.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()  # a bind error, say: raise it
    finally:
        for task in (serving, stopping):
            task.cancel()
        await asyncio.gather(serving, stopping, return_exceptions=True)
        if isinstance(manager, AsyncManager):
            await manager.close()
        elif isinstance(manager, ThreadManager):
            await loop.run_in_executor(None, manager.close)


def _run_one(args: argparse.Namespace, app: Any, reuse_port: bool) -> None:
    runner: Callable[[Any], Any] = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    limits = {
        name: getattr(args, name)
        for name in HttpLimits.__dataclass_fields__
        if getattr(args, name, None) is not None
    }
    runner(
        _serve(
            app,
            args.host,
            args.port,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            reuse_port=reuse_port,
            access_log=args.access_log,
            **limits,
        )
    )


def supervise(command: list[str], workers: int) -> int:
    """Run ``workers`` copies of ``command``, restarting any that dies, until SIGTERM or
    SIGINT (then stop them all: SIGTERM, and SIGKILL after :data:`STOP_TIMEOUT`). Returns
    the exit status: 0 after a signal, 1 if a worker keeps failing at startup."""
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[subprocess.Popen[bytes] | None] = [None] * workers
    started = [0.0] * workers
    quick_deaths = [0] * workers
    status = 0

    def start(index: int) -> None:
        env = {**os.environ, "SOCKETWIRE_WORKER": str(index)}
        procs[index] = subprocess.Popen(command, env=env)
        started[index] = time.monotonic()
        logger.info("worker %d started (pid %d)", index, procs[index].pid)  # type: ignore[union-attr]

    try:
        for index in range(workers):
            start(index)
        while not stopping:
            time.sleep(0.1)
            for index, proc in enumerate(procs):
                if stopping or proc is None or proc.poll() is None:
                    continue
                lived = time.monotonic() - started[index]
                quick_deaths[index] = quick_deaths[index] + 1 if lived < QUICK_DEATH else 0
                logger.error(
                    "worker %d (pid %d) exited with status %s after %.1f s",
                    index,
                    proc.pid,
                    proc.returncode,
                    lived,
                )
                if quick_deaths[index] >= MAX_QUICK_DEATHS:
                    logger.critical("worker %d keeps failing at startup; stopping", index)
                    status = 1
                    stopping.append(0)
                    break
                if quick_deaths[index]:
                    time.sleep(min(5.0, 0.2 * 2 ** quick_deaths[index]))
                start(index)
    finally:
        alive = [proc for proc in procs if proc is not None and proc.poll() is None]
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in alive:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


DESCRIPTION = """\
Serve a socketwire application on the native server.

  socketwire run app:sio --host 0.0.0.0 --port 5000

The target is a socketwire server (AsyncServer or Server), an ASGIApp or WSGIApp, or a
Flask app with socketwire.flask's SocketIO (or that SocketIO object). With --workers N,
N processes share the port (SO_REUSEPORT) under a supervisor that restarts any that dies;
with a message queue in the app they form one cluster. HTTP long-polling needs a sticky
load balancer in front of several workers (see the README's Scaling out)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="socketwire",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser(
        "run",
        help="serve module:attribute (a socketwire server, ASGIApp, WSGIApp or Flask app)",
        description=DESCRIPTION,
        formatter_class=_Formatter,
    )
    runner.add_argument(
        "app", help="module:attribute, e.g. app:sio (the current directory is on the path)"
    )
    runner.add_argument("--host", default="127.0.0.1", help="address to listen on")
    runner.add_argument("--port", type=int, default=5000, help="port to listen on")
    runner.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log each answered request on the socketwire.access logger",
    )
    runner.add_argument(
        "--reload",
        action="store_true",
        help="restart when a .py file under the current directory changes (development)",
    )
    runner.add_argument("--ssl-certfile")
    runner.add_argument("--ssl-keyfile")
    runner.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    runner.add_argument("--no-uvloop", action="store_true", help="use the default event loop")
    runner.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (SO_REUSEPORT), supervised",
    )
    runner.add_argument(
        "--reuse-port", action="store_true", help="bind with SO_REUSEPORT (set for workers)"
    )
    defaults = HttpLimits()
    limits = runner.add_argument_group("HTTP limits (see the README's Security section)")
    # their defaults are HttpLimits' (named in each help): an option not given is not passed
    limits.add_argument(
        "--limit-concurrency",
        dest="limit_concurrency",
        default=argparse.SUPPRESS,
        type=int,
        help="open connections; beyond, new ones get 503 (default: no limit)",
    )
    limits.add_argument(
        "--timeout-keep-alive",
        dest="keep_alive_timeout",
        default=argparse.SUPPRESS,
        type=float,
        help=f"seconds an idle keep-alive connection stays (default {defaults.keep_alive_timeout})",
    )
    limits.add_argument(
        "--header-timeout",
        dest="header_timeout",
        default=argparse.SUPPRESS,
        type=float,
        help=f"seconds for a request's head to arrive (default {defaults.header_timeout})",
    )
    limits.add_argument(
        "--body-timeout",
        dest="body_timeout",
        default=argparse.SUPPRESS,
        type=float,
        help=f"seconds between pieces of a request body (default {defaults.body_timeout})",
    )
    limits.add_argument(
        "--max-header-size",
        dest="max_header_size",
        default=argparse.SUPPRESS,
        type=int,
        help=f"bytes of request line and headers (default {defaults.max_header_size})",
    )
    limits.add_argument(
        "--max-pipelined",
        dest="max_pipelined",
        default=argparse.SUPPRESS,
        type=int,
        help=f"requests read ahead on one connection (default {defaults.max_pipelined})",
    )
    limits.add_argument(
        "--max-app-body-size",
        dest="max_app_body_size",
        default=argparse.SUPPRESS,
        type=int,
        help=f"bytes of a body for the wrapped app (default {defaults.max_app_body_size})",
    )
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    worker = os.environ.get("SOCKETWIRE_WORKER")
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(levelname)s {'[worker ' + worker + '] ' if worker else ''}%(name)s: %(message)s",
    )
    if args.reload and args.workers > 1:
        parser.error("--reload and --workers cannot be combined")
    if args.reload:
        argv = [item for item in (argv if argv is not None else sys.argv[1:]) if item != "--reload"]
        sys.exit(reload_loop([sys.executable, "-m", "socketwire", *argv]))
    if args.workers == 1:
        try:
            app = load(args.app)
        except TargetError as exc:
            # one line and exit status 2, as a usage error (no traceback, no usage dump)
            print(f"socketwire run: error: {exc}", file=sys.stderr)
            sys.exit(2)
        _run_one(args, app, reuse_port=args.reuse_port)
        return
    argv = list(argv if argv is not None else sys.argv[1:])
    command = [sys.executable, "-m", "socketwire", *_without_workers(argv), "--reuse-port"]
    logger.info(
        "socketwire supervisor (pid %d): %d workers on %s:%s",
        os.getpid(),
        args.workers,
        args.host,
        args.port,
    )
    sys.exit(supervise(command, args.workers))


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option's help, the description as written."""


#: how often --reload looks at the files
RELOAD_POLL = 0.5


def _sources(root: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [
            d for d in subdirs if not d.startswith(".") and d not in ("node_modules", "__pycache__")
        ]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                try:
                    found[path] = os.stat(path).st_mtime
                except OSError:
                    pass
    return found


def reload_loop(command: list[str]) -> int:
    """Run ``command`` and restart it whenever a ``.py`` file under the current directory
    changes, until SIGINT/SIGTERM (uvicorn's ``--reload``, by polling: no dependency)."""
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stopping.append(signum))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while not stopping:
            seen = _sources(os.getcwd())
            child = subprocess.Popen(command)
            while not stopping:
                time.sleep(RELOAD_POLL)
                if _sources(os.getcwd()) != seen:
                    logger.warning("change detected: restarting")
                    break
                if child.poll() is not None and _sources(os.getcwd()) == seen:
                    continue  # it exited (an error in the app): wait for a fix
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _without_workers(argv: list[str]) -> list[str]:
    """``argv`` minus its ``--workers N`` / ``--workers=N`` options."""
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item == "--workers":
            skip = True
        elif not item.startswith("--workers="):
            out.append(item)
    return out


if __name__ == "__main__":
    main()
