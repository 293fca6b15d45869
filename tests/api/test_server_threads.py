"""The threaded ``Server``: handlers on worker threads, served by the native server in the
test's loop, driven by python-socketio's AsyncClient."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import socketio

import socketwire

from .test_async_server_api import WAIT, client, collector, eventually, get, running


async def test_blocking_handler_holds_up_nobody_else() -> None:
    sio = socketwire.Server()
    release = threading.Event()

    @sio.on("block")
    def block(sid: str) -> str:
        release.wait(WAIT)
        return "released"

    @sio.on("ping")
    def ping(sid: str) -> str:
        return "pong"

    async with running(sio) as url, client(url) as blocked, client(url) as other:
        blocked_answer = asyncio.ensure_future(blocked.call("block", timeout=WAIT))
        for _ in range(5):
            assert await other.call("ping", timeout=WAIT) == "pong"
        assert not blocked_answer.done()
        release.set()
        assert await blocked_answer == "released"


async def test_raising_handler_keeps_the_client(caplog: pytest.LogCaptureFixture) -> None:
    sio = socketwire.Server()

    @sio.on("boom")
    def boom(sid: str) -> None:
        raise ValueError("kaboom")

    @sio.on("ping")
    def ping(sid: str) -> str:
        return "pong"

    async with running(sio) as url, client(url) as c:
        await c.emit("boom")
        assert await c.call("ping", timeout=WAIT) == "pong"
        await eventually(lambda: "kaboom" in caplog.text, "the error in the log")


async def test_events_in_order_when_async_handlers_false() -> None:
    sio = socketwire.Server(async_handlers=False)
    order: list[int] = []

    @sio.on("step")
    def step(sid: str, n: int) -> None:
        time.sleep(0.01 if n % 2 == 0 else 0)
        order.append(n)

    async with running(sio) as url, client(url) as c:
        for n in range(10):
            await c.emit("step", n)
        await eventually(lambda: len(order) == 10, "ten events")
    assert order == list(range(10))


async def test_emit_from_background_thread_and_call() -> None:
    sio = socketwire.Server()
    results: list[Any] = []

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> None:
        def work() -> None:
            sio.sleep(0.01)
            results.append(sio.call("add", (2, 3), to=sid, timeout=WAIT))
            sio.emit("done", results[-1], to=sid)

        sio.start_background_task(work)

    async with running(sio) as url:
        c = socketio.AsyncClient()
        c.on("add", lambda a, b: a + b)
        done = collector(c, "done")
        await c.connect(url, transports=["polling"], wait_timeout=WAIT)
        assert await get(done) == 5
        await c.disconnect()


async def test_disconnect_mid_call_fails_fast() -> None:
    sio = socketwire.Server()
    outcome: list[BaseException] = []
    asked = threading.Event()

    @sio.event
    def connect(sid: str, environ: Any) -> None:
        def ask() -> None:
            asked.set()
            try:
                sio.call("never", to=sid, timeout=30)
            except BaseException as exc:
                outcome.append(exc)

        sio.start_background_task(ask)

    async with running(sio) as url:
        c = socketio.AsyncClient()

        async def never() -> None:
            await asyncio.sleep(60)

        c.on("never", never)
        await c.connect(url, transports=["websocket"], wait_timeout=WAIT)
        await eventually(asked.is_set, "the call to start")
        started = time.monotonic()
        await c.disconnect()
        await eventually(lambda: bool(outcome), "the call to fail")
    assert isinstance(outcome[0], socketwire.DisconnectedError)
    assert time.monotonic() - started < 10


async def test_session_context_manager_and_rooms() -> None:
    sio = socketwire.Server()

    class Chat(socketwire.Namespace):
        def on_connect(self, sid: str, environ: Any) -> None:
            self.enter_room(sid, "lobby")

        def on_count(self, sid: str) -> int:
            with self.session(sid) as session:
                session["n"] = session.get("n", 0) + 1
                return int(session["n"])

        def on_rooms(self, sid: str) -> list[str]:
            return sorted(self.rooms(sid))

    sio.register_namespace(Chat("/chat"))
    async with running(sio) as url, client(url, namespaces=["/chat"]) as c:
        assert await c.call("count", namespace="/chat", timeout=WAIT) == 1
        assert await c.call("count", namespace="/chat", timeout=WAIT) == 2
        rooms = await c.call("rooms", namespace="/chat", timeout=WAIT)
        assert "lobby" in rooms and len(rooms) == 2


def test_async_mode_validation() -> None:
    with pytest.raises(RuntimeError, match=r"eventlet\.monkey_patch"):
        socketwire.Server(async_mode="eventlet")  # not monkey-patched in the test process
    assert socketwire.Server().async_mode == "threading"  # nothing patched: threads
    with pytest.raises(ValueError):
        socketwire.Server(async_mode="carrier-pigeon")
    with pytest.raises(RuntimeError, match="patch_all"):
        socketwire.Server(async_mode="gevent")  # not monkey-patched in the test process
