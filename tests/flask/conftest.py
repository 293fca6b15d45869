"""Fixtures for the socketwire.flask suite: the test app (tests/flask/apps/flaskapp.py)
in process, and the same app served in subprocesses by each threaded serving mode."""

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(APPS))

START_TIMEOUT = 30.0
#: native: socketio.run(app); gunicorn: -k gthread on the Flask app; werkzeug: flask run;
#: gevent: monkey-patched, SocketIO(async_mode='gevent'), socketio.run(app) on gevent's server;
#: eventlet: monkey-patched, SocketIO() (mode detected), socketio.run(app) on eventlet.wsgi;
#: uwsgi: Flask-SocketIO's documented uWSGI command (gevent loop, no monkey patching in it);
#: gunicorn-geventwebsocket / gunicorn-eventlet: the documents' other gunicorn workers
MODES = (
    "native",
    "gunicorn",
    "werkzeug",
    "gevent",
    "eventlet",
    "uwsgi",
    "gunicorn-geventwebsocket",
    "gunicorn-eventlet",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_http(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def server_command(mode: str, module: str, port: int) -> list[str]:
    py = sys.executable
    if mode == "native":
        return [py, f"{module}.py", str(port)]
    if mode == "example":  # examples/flask/app.py: socketio.run(app)
        return [py, f"{module}.py", "--port", str(port)]
    if mode in ("gunicorn", "gunicorn-geventwebsocket", "gunicorn-eventlet"):
        worker = {
            "gunicorn": ["-k", "gthread", "--threads", "50"],
            "gunicorn-geventwebsocket": ["-k", "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"],
            "gunicorn-eventlet": ["-k", "eventlet"],  # gunicorn 25.x (see ServerProcess.start)
        }[mode]
        return [
            py, "-m", "gunicorn", *worker, "-w", "1",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning", f"{module}:app",
        ]  # fmt: skip
    if mode == "werkzeug":
        return [py, "-m", "flask", "--app", module, "run", "--port", str(port), "--no-reload"]
    if mode == "gevent":
        return [py, "gevent_launcher.py", str(port)]
    if mode == "eventlet":
        return [py, "eventlet_launcher.py", str(port)]
    if mode == "uwsgi":
        return [
            str(Path(py).parent / "uwsgi"), "--http", f"127.0.0.1:{port}", "--gevent", "1000",
            "--http-websockets", "--master", "--wsgi-file", f"{module}.py", "--callable", "app",
            "--die-on-term",
        ]  # fmt: skip
    if mode.startswith("cli:"):  # socketwire run module:attr
        return [py, "-m", "socketwire", "run", f"{module}:{mode[4:]}", "--port", str(port)]
    if mode == "upstream-example":  # Flask-SocketIO's example app, unmodified
        return [py, "upstream_example_launcher.py", str(port)]
    raise ValueError(mode)


class ServerProcess:
    """A Flask app served in a subprocess (its own process group, log in a temp file)."""

    def __init__(self, mode: str, module: str = "flaskapp", cwd: Path = APPS) -> None:
        self.mode = mode
        self.module = module
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix=f"sw-flask-{mode}-"))
        self.log_path = self._dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.cwd), env.get("PYTHONPATH")) if p)
        if self.mode == "gunicorn-eventlet":
            from tests.interop.conftest import gunicorn_25

            env["PYTHONPATH"] = os.pathsep.join((str(gunicorn_25()), env["PYTHONPATH"]))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                server_command(self.mode, self.module, self.port),
                cwd=str(self.cwd),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.mode} server exited early:\n{self.log_tail()}")
            if _answers_http(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.mode} server did not start:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session", params=MODES)
def flask_server_process(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    server = ServerProcess(request.param)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def flask_server(flask_server_process: ServerProcess) -> Iterator[ServerProcess]:
    """The served app; a test that kills it fails, and the next one gets a new process."""
    if not flask_server_process.alive():
        flask_server_process.start()
    yield flask_server_process
    if not flask_server_process.alive():
        log = flask_server_process.log_tail()
        flask_server_process.stop()
        pytest.fail(f"{flask_server_process.mode} server died during the test:\n{log}")


@pytest.fixture
def made() -> Any:
    """A fresh (app, socketio) from the test app's factory."""
    import flaskapp

    return flaskapp.create_app()
