"""Fixtures for the interop suite: the test app as a real server subprocess.

``server`` is parametrized over the serving modes.  asyncio ``AsyncServer``
(``apps/echo_app.py``):

* ``native`` -- ``python -m socketwire run echo_app:sio`` (socketwire's own
  asyncio HTTP/WebSocket server);
* ``asgi``   -- ``uvicorn echo_app:app`` (socketwire.ASGIApp under uvicorn).

Threaded ``Server`` (``apps/echo_app_sync.py``, the same events and behaviour):

* ``native-sync``     -- ``python -m socketwire run echo_app_sync:sio`` (native
  asyncio server, handlers on the worker pool);
* ``gthread``         -- ``gunicorn -k gthread echo_app_sync:app`` (WSGIApp);
* ``werkzeug``        -- Werkzeug's threaded ``run_simple`` (``serve_sync.py``);
* ``gevent``          -- gevent.pywsgi after ``monkey.patch_all()``,
  ``async_mode='gevent'`` (``serve_sync.py``);
* ``gunicorn-gevent`` -- ``gunicorn -k gevent echo_app_sync:app``,
  ``async_mode='gevent'``;
* ``gunicorn-geventwebsocket`` -- ``gunicorn -k
  geventwebsocket.gunicorn.workers.GeventWebSocketWorker echo_app_sync:app``, where
  gevent-websocket accepts the WebSocket and hands it to the app;
* ``eventlet``        -- eventlet.wsgi after ``eventlet.monkey_patch()``, ``async_mode``
  detected (``serve_sync.py``);
* ``gunicorn-eventlet`` -- ``gunicorn -k eventlet echo_app_sync:app`` with gunicorn 25.x (the
  last with that worker), installed on first use beside the test venv;
* ``uwsgi-gevent``    -- Flask-SocketIO's documented uWSGI command (``uwsgi --http ...
  --gevent 1000 --http-websockets --master --wsgi-file ... --callable app``), WebSocket
  through the connection uWSGI hands over after its handshake, no monkey patching in the
  command;
* ``uwsgi-threads``   -- the same with ``--threads 100`` instead of ``--gevent 1000``.

One process per mode is shared by the whole session (tests isolate themselves
with unique tags / room names); it is restarted if a test killed it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"

START_TIMEOUT = 20.0
ASYNC_MODES = ("native", "asgi")
SYNC_MODES = (
    "native-sync",
    "gthread",
    "werkzeug",
    "gevent",
    "gunicorn-gevent",
    "gunicorn-geventwebsocket",
    "eventlet",
    "gunicorn-eventlet",
    "uwsgi-gevent",
    "uwsgi-threads",
)
MODES = ASYNC_MODES + SYNC_MODES
# The slow, timer-bound tests (heartbeat, client vanishes: several seconds of
# ping cycles each) run on one mode per code path only: both asyncio modes,
# the native server with threads, WSGIApp under real threads (gthread; Werkzeug
# shares that code) and WSGIApp under gevent (gevent.pywsgi; gunicorn -k gevent
# shares it).  SW_INTEROP_ALL_MODES=1 runs them on every mode.
HEAVY_MODES = (
    MODES
    if os.environ.get("SW_INTEROP_ALL_MODES")
    else (*ASYNC_MODES, "native-sync", "gthread", "gevent")
)


def heavy_modes(transports: tuple[str, ...]) -> pytest.MarkDecorator:
    """Parametrize a test over HEAVY_MODES x ``transports`` instead of every
    mode (same ``mode-transport`` ids as the other tests)."""
    return pytest.mark.parametrize(
        ("server_process", "transport"),
        [pytest.param(m, t, id=f"{m}-{t}") for m in HEAVY_MODES for t in transports],
        indirect=["server_process"],
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


def gunicorn_25() -> Path:
    """gunicorn 25.x, the last release with the ``-k eventlet`` worker, in a folder of the
    test venv (installed on first use; the venv's own gunicorn is newer)."""
    target = Path(sys.prefix) / "gunicorn-25"
    if not (target / "gunicorn").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
             str(target), "gunicorn>=25,<26"],
            check=True,
            timeout=300,
        )  # fmt: skip
    return target


class ServerProcess:
    """A server subprocess running ``apps/echo_app.py`` (or its threaded twin
    ``apps/echo_app_sync.py``) in one mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._logdir = Path(tempfile.mkdtemp(prefix=f"sw-interop-{mode}-"))
        self._log_path = self._logdir / "server.log"
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.mode == "native":
            return [
                sys.executable,
                "-m",
                "socketwire",
                "run",
                "echo_app:sio",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
        if self.mode == "asgi":
            return [
                sys.executable,
                "-m",
                "uvicorn",
                "echo_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        if self.mode == "native-sync":
            return [
                sys.executable,
                "-m",
                "socketwire",
                "run",
                "echo_app_sync:sio",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ]
        if self.mode in ("uwsgi-gevent", "uwsgi-threads"):
            loop = ["--gevent", "1000"] if self.mode == "uwsgi-gevent" else ["--threads", "100"]
            return [
                str(Path(sys.executable).parent / "uwsgi"),
                "--http", f"127.0.0.1:{self.port}", *loop, "--http-websockets",
                "--master", "--wsgi-file", "echo_app_sync.py", "--callable", "app",
                "--die-on-term",  # SIGTERM stops it (uWSGI's default is to reload)
            ]  # fmt: skip
        if self.mode == "gunicorn-eventlet":
            return [
                sys.executable, "-m", "gunicorn", "-k", "eventlet", "-w", "1",
                "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "2",
                "--log-level", "warning", "echo_app_sync:app",
            ]  # fmt: skip
        if self.mode in ("gthread", "gunicorn-gevent", "gunicorn-geventwebsocket"):
            worker = ["-k", "gthread", "--threads", "50"]
            if self.mode == "gunicorn-gevent":
                worker = ["-k", "gevent"]
            elif self.mode == "gunicorn-geventwebsocket":
                # gevent-websocket accepts the WebSocket itself and hands the app
                # environ["wsgi.websocket"] (Flask-SocketIO's documented worker)
                worker = ["-k", "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"]
            return [
                sys.executable,
                "-m",
                "gunicorn",
                *worker,
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "2",
                "--log-level",
                "warning",
                "echo_app_sync:app",
            ]
        if self.mode in ("werkzeug", "gevent", "eventlet"):
            return [sys.executable, "serve_sync.py", self.mode, "127.0.0.1", str(self.port)]
        raise ValueError(self.mode)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(APPS), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("SW_TEST_ASYNC_MODE", None)
        if self.mode == "gunicorn-eventlet":
            env["PYTHONPATH"] = os.pathsep.join((str(gunicorn_25()), env["PYTHONPATH"]))
        if self.mode in ("gevent", "gunicorn-gevent", "gunicorn-geventwebsocket"):
            # the app module is imported after the monkey patching (by
            # serve_sync.py, or in gunicorn's gevent worker)
            env["SW_TEST_ASYNC_MODE"] = "gevent"
        return env

    def start(self) -> None:
        self.port = free_port()
        env = self.env()
        self._log = open(self._log_path, "ab")
        self._log.write(f"\n===== start {self.mode} on {self.port} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.command(),
            cwd=str(APPS),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.mode} server exited early with {self.proc.returncode}:\n"
                    + self.log_tail()
                )
            if _port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.mode} server did not open port {self.port} within "
            f"{START_TIMEOUT}s:\n" + self.log_tail()
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        if not self.alive():
            self.start()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self._log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._logdir, ignore_errors=True)


@pytest.fixture(scope="session", params=MODES)
def server_process(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    try:
        import socketwire  # noqa: F401
    except ImportError as exc:  # pragma: no cover - only before the server exists
        pytest.fail(f"socketwire is not importable: {exc}")
    srv = ServerProcess(request.param)
    srv.start()
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def server(server_process: ServerProcess) -> Iterator[ServerProcess]:
    """The running server for this test; fails the test if the server died."""
    server_process.ensure_running()
    yield server_process
    if not server_process.alive():
        log = server_process.log_tail()
        server_process.stop()
        pytest.fail(f"{server_process.mode} server died during the test:\n{log}")


@pytest.fixture
def tag(request: pytest.FixtureRequest) -> str:
    """A unique client tag (also usable as a room-name prefix)."""
    return f"t-{uuid.uuid4().hex[:12]}"
