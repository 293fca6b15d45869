"""Real server processes, real clients and bounded waits for the multi-process cluster tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import socketio

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
JS_CLIENTS = HERE / "js_clients.cjs"
JS_MODULES = HERE.parent / "js" / "node_modules" / "socket.io-client"
HOST = "127.0.0.1"
WAIT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = WAIT
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Node:
    """``python -m socketwire run <app>`` as a subprocess; its log is kept for assertions."""

    def __init__(
        self,
        mq_url: str,
        channel: str,
        name: str,
        app: str = "cluster_app:sio",
        port: int | None = None,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.log_path = Path(tempfile.mkdtemp(prefix=f"sw-cluster-{name}-")) / "server.log"
        self._log = open(self.log_path, "wb")
        command = [sys.executable, "-m", "socketwire", "run", app, "--host", HOST]
        command += ["--port", str(self.port), "--log-level", "warning", *(extra or [])]
        self.proc = subprocess.Popen(
            command,
            cwd=APPS,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "SW_MQ_URL": mq_url,
                "SW_CHANNEL": channel,
                "SW_NODE": name,
                **(env or {}),
            },
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"node {self.name} exited:\n{self.log()}")
            return port_open(self.port)

        wait_for(ready, f"node {self.name} to listen on {self.port}", 20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def nodes(mq_url: str, channel: str, count: int = 3, **kwargs: Any) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for index in range(count):
            started.append(Node(mq_url, channel, f"n{index}", **kwargs))
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.stop()


class PyClient:
    """python-socketio's AsyncClient recording every event it receives (in order) and
    answering ``add`` with the sum of its arguments."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[list[Any]] = []

        @self.client.on("*")
        def record(event: str, *args: Any) -> None:
            self.events.append([event, *args])

        @self.client.on("add")
        def add(a: int, b: int) -> int:
            return a + b

    @property
    def sid(self) -> str:
        sid = self.client.get_sid()
        assert sid is not None
        return sid

    async def connect(self, url: str, transport: str = "websocket") -> PyClient:
        transports = ["polling"] if transport == "polling" else ["websocket"]
        await self.client.connect(url, transports=transports, wait_timeout=WAIT)
        return self

    async def call(self, event: str, *args: Any, timeout: float = WAIT) -> Any:
        return await self.client.call(event, args if len(args) != 1 else args[0], timeout=timeout)

    def got(self, event: str) -> list[Any]:
        return [e[1] if len(e) == 2 else e[1:] for e in self.events if e[0] == event]

    async def close(self) -> None:
        await self.client.disconnect()


class JSPool:
    """A pool of official JS clients in one Node.js process (js_clients.cjs)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = 0
        self.sids: list[str] = []

    @classmethod
    async def start(cls) -> JSPool:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(JS_CLIENTS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        return cls(proc)

    async def request(self, op: str, **fields: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._ids += 1
        self.proc.stdin.write((json.dumps({"id": self._ids, "op": op, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), WAIT)
        if not line:
            raise AssertionError("the JS client pool exited")
        answer = json.loads(line)
        assert answer["id"] == self._ids
        if not answer["ok"]:
            raise AssertionError(f"JS clients: {op} failed: {answer['error']}")
        return answer["result"]

    async def connect(self, urls: list[str], transport: str = "websocket") -> list[str]:
        sids: list[str] = await self.request("connect", urls=urls, transport=transport)
        self.sids += sids
        return sids

    async def received(self) -> list[list[list[Any]]]:
        result: list[list[list[Any]]] = await self.request("received")
        return result

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.request("close"), 3)
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()


def js_got(events: list[list[Any]], event: str) -> list[Any]:
    return [e[1] if len(e) == 2 else e[1:] for e in events if e[0] == event]


@contextlib.asynccontextmanager
async def controls(node_list: list[Node]) -> AsyncIterator[list[PyClient]]:
    """One python client per node to drive it; waits until every node is subscribed."""
    made = [await PyClient().connect(node.url) for node in node_list]
    try:
        for c in made:
            await eventually(lambda c=c: _connected(c), f"node behind {c.sid} to subscribe", WAIT)
        yield made
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                await c.close()


async def _connected(control: PyClient) -> bool:
    return bool((await control.call("status"))["connected"])


async def emitter(
    url: str, channel: str, mode: str, event: str, tag: str, count: int
) -> dict[str, Any]:
    """Run apps/emitter.py (a write-only manager in a process of its own)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(APPS / "emitter.py"),
        url,
        channel,
        mode,
        event,
        tag,
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    stats: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return stats


# ------------------------------------------------------------------ broker restarts

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def _run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def redis_up() -> bool:
    try:
        return _run(["redis-cli", "-h", HOST, "ping"], 5).stdout.strip() == "PONG"
    except (OSError, subprocess.TimeoutExpired):
        return False


def amqp_up() -> bool:
    if not port_open(5672):
        return False
    try:
        import kombu

        with kombu.Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


class Broker:
    """Stop and start the real broker of ``kind``; :meth:`restore` (always run it in a
    finally) leaves it running and answering, whatever happened."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def up(self) -> bool:
        return redis_up() if self.kind == "redis" else amqp_up()

    def stop(self) -> None:
        if self.kind == "redis":
            _run(["redis-cli", "-h", HOST, "shutdown", "nosave"], 20)
            wait_for(lambda: not port_open(6379), "Redis to stop", 20)
        else:
            result = _run(["rabbitmqctl", "stop_app"])
            assert result.returncode == 0, result.stderr
            wait_for(lambda: not port_open(5672), "RabbitMQ to stop", 30)

    def start(self) -> None:
        if self.kind == "redis":
            if not redis_up():
                _run(REDIS_START, 20)
        else:
            result = _run(["rabbitmqctl", "start_app"])
            if result.returncode != 0:  # the node itself is gone: start it again
                _run(["rabbitmq-server", "-detached"])
        wait_for(self.up, f"{self.kind} to answer again", 60)

    def restore(self) -> None:
        if not self.up():
            self.start()
