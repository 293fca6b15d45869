"""Deployment: ``socketwire run --workers N`` (supervised workers on one port) and a real
nginx with ``ip_hash`` in front of three nodes, polling and WebSocket clients through it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from .harness import (
    HOST,
    JSPool,
    Node,
    PyClient,
    controls,
    eventually,
    free_port,
    js_got,
    nodes,
    port_open,
    wait_for,
)

WORKERS = 3


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.update(int(p) for p in text.split())
    return found


def _listeners(port: int) -> int:
    """How many sockets listen on ``port`` (one per worker with SO_REUSEPORT)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            count += 1
    return count


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


async def test_workers_share_a_port_form_a_cluster_and_are_supervised(
    redis_url: str, channel: str
) -> None:
    supervisor = Node(redis_url, channel, "workers", extra=["--workers", str(WORKERS)])
    try:
        supervisor.wait_ready()
        wait_for(lambda: len(_children(supervisor.proc.pid)) == WORKERS, "the workers to start")
        wait_for(lambda: _listeners(supervisor.port) == WORKERS, "every worker to listen", 20)
        workers = _children(supervisor.proc.pid)
        clients = [await PyClient().connect(supervisor.url) for _ in range(8 * WORKERS)]
        try:
            statuses = [await c.call("status") for c in clients]
            pids = {s["pid"] for s in statuses}
            # the kernel spread the connections over the workers (SO_REUSEPORT)
            assert pids <= workers and len(pids) >= 2, (pids, workers)

            async def subscribed() -> bool:
                return all([(await c.call("status"))["connected"] for c in clients])

            await eventually(subscribed, "every worker to subscribe")
            # one cluster: a broadcast from any worker reaches every client once
            for c in clients[:3]:
                await c.call("emit", {"event": "news", "data": c.sid})
            want = sorted(c.sid for c in clients[:3])
            await eventually(
                lambda: all(sorted(c.got("news")) == want for c in clients), "the broadcasts"
            )
        finally:
            for c in clients:
                with contextlib.suppress(Exception):
                    await c.close()
        # a worker that dies is replaced, and the port keeps serving
        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: (
                victim not in _children(supervisor.proc.pid)
                and len(_children(supervisor.proc.pid)) == WORKERS
            ),
            "the supervisor to replace the killed worker",
            15,
        )
        wait_for(lambda: _listeners(supervisor.port) == WORKERS, "the new worker to listen", 20)
        async with contextlib.AsyncExitStack() as stack:
            fresh = [await PyClient().connect(supervisor.url) for _ in range(6)]
            for c in fresh:
                stack.push_async_callback(c.close)
            for c in fresh:
                assert (await c.call("status"))["pid"] in _children(supervisor.proc.pid)
        # SIGTERM stops the supervisor and every worker
        workers = _children(supervisor.proc.pid)
        supervisor.proc.send_signal(signal.SIGTERM)
        assert supervisor.proc.wait(20) == 0
        wait_for(lambda: not any(_alive(p) for p in workers), "the workers to exit", 15)
        assert not port_open(supervisor.port)
    finally:
        supervisor.stop()
        for pid in _children(supervisor.proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------ nginx

NGINX_CONF = """\
worker_processes 1;
daemon off;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{body}
    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"""

# the README's snippet, verbatim
UPSTREAM = """\
upstream socketio_nodes {{
    ip_hash;  # polling needs every request of a session on the node that owns it
    server 127.0.0.1:{0};
    server 127.0.0.1:{1};
    server 127.0.0.1:{2};
}}
"""
LOCATION = """\
location /socket.io/ {
    proxy_pass http://socketio_nodes;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_buffering off;
    proxy_read_timeout 120s;
}
"""


def _nginx() -> str:
    path = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if path is None:
        message = "nginx is not installed (apt-get install nginx; scripts/setup.sh does it as root)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI must not skip this test)")
        pytest.skip(message)
    return path


@contextlib.contextmanager
def nginx(ports: list[int]) -> Iterator[int]:
    binary = _nginx()
    tmp = Path(tempfile.mkdtemp(prefix="sw-nginx-"))
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            tmp=tmp,
            port=port,
            user="user root root;" if os.geteuid() == 0 else "",
            body=textwrap.indent(UPSTREAM.format(*ports), "    "),
            location=textwrap.indent(LOCATION, "        "),
        )
    )
    output = tmp / "output.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def up() -> bool:
            if proc.poll() is not None:
                logs = output.read_text() + (tmp / "error.log").read_text()
                raise AssertionError(f"nginx exited: {logs}")
            return port_open(port)

        wait_for(up, "nginx to listen")
        yield port
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.asynccontextmanager
async def client_from(source: str, url: str, transport: str) -> AsyncIterator[PyClient]:
    """A python-socketio client whose connections come from ``source`` (a loopback
    address): ip_hash picks the node by the client's address."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))
    c = PyClient()
    c.client = _recording(socketio.AsyncClient(reconnection=False, http_session=session), c)
    try:
        await c.connect(url, transport)
        yield c
    finally:
        with contextlib.suppress(Exception):
            await c.close()
        await session.close()


def _recording(client: socketio.AsyncClient, owner: PyClient) -> socketio.AsyncClient:
    client.on("*", lambda event, *args: owner.events.append([event, *args]))
    return client


async def test_nginx_ip_hash_in_front_of_three_nodes(redis_url: str, channel: str) -> None:
    with nodes(redis_url, channel) as cluster, nginx([n.port for n in cluster]) as port:
        url = f"http://{HOST}:{port}"
        async with controls(cluster) as ctl, contextlib.AsyncExitStack() as stack:
            through = []
            for i in range(9):
                transport = "polling" if i % 2 == 0 else "websocket"
                through.append(
                    await stack.enter_async_context(client_from(f"127.0.{i + 1}.1", url, transport))
                )
            homes = {c.sid: (await c.call("status"))["node"] for c in through}
            assert len(set(homes.values())) >= 2, homes  # ip_hash spread the addresses
            js = await JSPool.start()
            stack.push_async_callback(js.close)
            await js.connect([url], transport="polling")
            await js.connect([url], transport="upgrade")
            # a broadcast from every node (not only the ones nginx chose) reaches every client
            # behind nginx exactly once; polling sessions survive many requests (sticky)
            for round_ in range(3):
                for i, c in enumerate(ctl):
                    await c.call("emit", {"event": "news", "data": f"{round_}-{i}"})
                await asyncio.sleep(0)
            want = sorted(f"{r}-{i}" for r in range(3) for i in range(len(ctl)))
            await eventually(
                lambda: all(sorted(c.got("news")) == want for c in through), "python clients"
            )

            async def js_done() -> bool:
                return all(sorted(js_got(ev, "news")) == want for ev in await js.received())

            await eventually(js_done, "JS clients")
            assert await js.request("transports") == ["polling", "websocket"]
            # every client still talks to the node that owns its session
            for c in through:
                assert (await c.call("status"))["node"] == homes[c.sid]
                assert c.client.transport() == (
                    "polling" if through.index(c) % 2 == 0 else "websocket"
                )
