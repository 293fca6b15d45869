"""python-socketio's AsyncServer API, as its documentation describes it, driven by
python-socketio's own AsyncClient against socketwire's native server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio

import socketwire

HOST = "127.0.0.1"
WAIT = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def running(sio: Any) -> AsyncIterator[str]:
    port = free_port()
    server = await socketwire.create_server(sio, HOST, port)
    try:
        yield f"http://{HOST}:{port}"
        # let the clients' goodbyes (polling POSTs) land before the listener closes
        await eventually(lambda: not sio.core.engine.sessions, "clients to leave")
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def client(url: str, **kwargs: Any) -> AsyncIterator[socketio.AsyncClient]:
    c = socketio.AsyncClient()
    kwargs.setdefault("transports", ["websocket"])
    kwargs.setdefault("wait_timeout", WAIT)
    await c.connect(url, **kwargs)
    try:
        yield c
    finally:
        await c.disconnect()


def collector(c: socketio.AsyncClient, event: str, namespace: str = "/") -> asyncio.Queue[Any]:
    queue: asyncio.Queue[Any] = asyncio.Queue()

    @c.on(event, namespace=namespace)
    def handler(*args: Any) -> None:
        queue.put_nowait(args[0] if len(args) == 1 else args)

    return queue


async def get(queue: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(queue.get(), WAIT)


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(wait(), WAIT)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_handler_signatures_without_auth_and_reason() -> None:
    sio = socketwire.AsyncServer()
    seen: list[Any] = []

    @sio.event
    def connect(sid: str, environ: dict[str, Any]) -> None:  # no auth parameter
        seen.append(("connect", environ["REQUEST_METHOD"]))

    @sio.event
    def disconnect(sid: str) -> None:  # no reason parameter
        seen.append(("disconnect", sid))

    async with running(sio) as url:
        async with client(url) as c:
            sid = c.get_sid()
        await eventually(lambda: len(seen) == 2, "disconnect handler")
    assert seen == [("connect", "GET"), ("disconnect", sid)]


async def test_always_connect_sends_connect_before_handler_and_disconnects_on_refusal() -> None:
    sio = socketwire.AsyncServer(always_connect=True)
    handler_done = asyncio.Event()

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> bool:
        await sio.emit("early", "hi", to=sid)
        handler_done.set()
        return not (auth or {}).get("refuse")

    async with running(sio) as url:
        async with client(url) as c:
            early = collector(c, "early")
            assert await get(early) == "hi"
        c2 = socketio.AsyncClient()
        disconnected = asyncio.Event()
        c2.on("disconnect", lambda *a: disconnected.set())
        await c2.connect(url, transports=["websocket"], auth={"refuse": True}, wait_timeout=WAIT)
        await asyncio.wait_for(disconnected.wait(), WAIT)
        await c2.disconnect()


async def test_async_handlers_false_keeps_order_per_client() -> None:
    sio = socketwire.AsyncServer(async_handlers=False)
    order: list[int] = []

    @sio.on("step")
    async def step(sid: str, n: int) -> None:
        await asyncio.sleep(0.02 if n % 2 == 0 else 0)  # the even ones are slower
        order.append(n)

    async with running(sio) as url, client(url) as c:
        for n in range(10):
            await c.emit("step", n)
        await eventually(lambda: len(order) == 10, "ten events")
    assert order == list(range(10))


async def test_catch_all_event_and_namespace() -> None:
    sio = socketwire.AsyncServer(namespaces="*")
    calls: list[tuple[Any, ...]] = []

    @sio.on("*")
    def any_event(event: str, sid: str, *args: Any) -> None:
        calls.append(("main", event, args))

    @sio.on("connect", namespace="*")
    def any_connect(namespace: str, sid: str, environ: Any) -> None:
        calls.append(("connect", namespace))

    @sio.on("*", namespace="*")
    def any_namespace(event: str, namespace: str, sid: str, *args: Any) -> str:
        calls.append(("any", event, namespace, args))
        return "ok"

    async with running(sio) as url:
        async with client(url, namespaces=["/", "/dyn"]) as c:
            await c.emit("hello", 1)
            assert await c.call("q", 2, namespace="/dyn", timeout=WAIT) == "ok"
            await eventually(lambda: any(x[0] == "main" for x in calls), "catch-all event")
    assert ("connect", "/dyn") in calls
    assert ("main", "hello", (1,)) in calls
    assert ("any", "q", "/dyn", (2,)) in calls


async def test_class_based_namespace() -> None:
    sio = socketwire.AsyncServer()

    class Chat(socketwire.AsyncNamespace):
        def on_connect(self, sid: str, environ: Any, auth: Any) -> None:
            self.name = (auth or {}).get("name")

        async def on_shout(self, sid: str, text: str) -> str:
            await self.emit("heard", text.upper(), room=sid)
            async with self.session(sid) as session:
                session["count"] = session.get("count", 0) + 1
            return self.name or ""

        async def on_count(self, sid: str) -> int:
            return int((await self.get_session(sid))["count"])

    sio.register_namespace(Chat("/chat"))
    async with running(sio) as url, client(url, namespaces=["/chat"], auth={"name": "ann"}) as c:
        heard = collector(c, "heard", "/chat")
        assert await c.call("shout", "hi", namespace="/chat", timeout=WAIT) == "ann"
        assert await get(heard) == "HI"
        assert await c.call("count", namespace="/chat", timeout=WAIT) == 1


async def test_call_timeout_and_callbacks() -> None:
    sio = socketwire.AsyncServer()
    async with running(sio) as url, client(url) as c:

        async def slow() -> None:
            await asyncio.sleep(30)  # python-socketio acks when the handler returns

        c.on("slow", slow)
        c.on("add", lambda a, b: a + b)
        sid = c.get_sid()
        assert await sio.call("add", (2, 3), to=sid, timeout=WAIT) == 5
        answers: asyncio.Queue[Any] = asyncio.Queue()
        await sio.emit("add", (1, 1), to=sid, callback=lambda *a: answers.put_nowait(a))
        assert await get(answers) == (2,)
        with pytest.raises(socketwire.TimeoutError):
            await sio.call("slow", to=sid, timeout=0.2)
        with pytest.raises(socketwire.DisconnectedError):
            await sio.call("add", (1, 2), to="no-such-sid", timeout=1)


async def test_rooms_lists_skip_and_close_room() -> None:
    sio = socketwire.AsyncServer()
    async with running(sio) as url:
        async with client(url) as a, client(url) as b, client(url) as c:
            sids = [x.get_sid() for x in (a, b, c)]
            queues = [collector(x, "news") for x in (a, b, c)]
            for sid in sids:
                await sio.enter_room(sid, "r")
            assert set(sio.rooms(sids[0])) == {sids[0], "r"}
            await sio.emit("news", 1, room="r", skip_sid=[sids[0], sids[1]])
            assert await get(queues[2]) == 1
            await sio.emit("news", 2, to=[sids[0], sids[1]])
            assert [await get(queues[0]), await get(queues[1])] == [2, 2]
            await sio.leave_room(sids[2], "r")
            await sio.close_room("r")
            await sio.emit("news", 3, room="r")
            await sio.emit("news", 4)  # everyone: proves nothing from 3 is queued ahead
            assert [await get(q) for q in queues] == [4, 4, 4]


async def test_server_disconnect_session_environ_transport_background() -> None:
    sio = socketwire.AsyncServer()
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        reasons.put_nowait(reason)

    async with running(sio) as url:
        c = socketio.AsyncClient()
        gone = asyncio.Event()
        c.on("disconnect", lambda *a: gone.set())
        await c.connect(url, transports=["polling"], headers={"X-Test": "1"}, wait_timeout=WAIT)
        sid = c.get_sid()
        assert sio.get_environ(sid)["HTTP_X_TEST"] == "1"
        assert sio.transport(sid) == "polling"
        await sio.save_session(sid, {"user": "u"})
        assert await sio.get_session(sid) == {"user": "u"}
        done = asyncio.Event()

        async def task(value: int) -> None:
            await sio.sleep(0.01)
            await sio.emit("bg", value, to=sid)
            done.set()

        bg = collector(c, "bg")
        sio.start_background_task(task, 7)
        assert await get(bg) == 7
        await sio.disconnect(sid)
        await asyncio.wait_for(gone.wait(), WAIT)
        assert await asyncio.wait_for(reasons.get(), WAIT) == sio.reason.SERVER_DISCONNECT
        await c.disconnect()


async def test_connect_refusals() -> None:
    sio = socketwire.AsyncServer()

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> bool | None:
        mode = (auth or {}).get("mode")
        if mode == "false":
            return False
        if mode == "raise":
            raise socketwire.ConnectionRefusedError("nope", {"code": 7})
        if mode == "crash":
            raise RuntimeError("bug in handler")
        return None

    async with running(sio) as url:
        for mode, expected in [
            ("false", "Connection rejected by server"),
            ("raise", "nope"),
            ("crash", "Connection rejected by server"),
        ]:
            c = socketio.AsyncClient()
            errors: asyncio.Queue[Any] = asyncio.Queue()
            c.on("connect_error", errors.put_nowait)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await c.connect(
                    url, transports=["websocket"], auth={"mode": mode}, wait_timeout=WAIT
                )
            data = await get(errors)
            message = data.get("message") if isinstance(data, dict) else data
            assert message == expected
            if mode == "raise":
                assert data["data"] == {"code": 7}
            await c.disconnect()
        async with client(url, auth={"mode": "ok"}) as ok:
            assert ok.connected


@pytest.mark.parametrize("kind", ["async", "threads"])
async def test_disconnect_from_the_connect_handler_refuses(kind: str) -> None:
    sio: Any = socketwire.AsyncServer() if kind == "async" else socketwire.Server()
    disconnects: list[str] = []
    kicked: list[str] = []

    if kind == "async":

        @sio.event
        async def connect(sid: str, environ: Any, auth: Any) -> None:
            if auth and auth.get("kick"):
                kicked.append(sid)
                await sio.disconnect(sid)

    else:

        @sio.event
        def connect(sid: str, environ: Any, auth: Any) -> None:
            if auth and auth.get("kick"):
                kicked.append(sid)
                sio.disconnect(sid)

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        disconnects.append(sid)

    async with running(sio) as url:
        c = socketio.AsyncClient()
        errors: asyncio.Queue[Any] = asyncio.Queue()
        c.on("connect_error", errors.put_nowait)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await c.connect(url, transports=["websocket"], auth={"kick": 1}, wait_timeout=WAIT)
        assert (await get(errors))["message"] == "Connection rejected by server"
        await c.disconnect()
        async with client(url) as ok:
            assert ok.connected
    assert kicked and kicked[0] not in disconnects  # it never connected: no disconnect event


async def test_unknown_namespace_refused() -> None:
    sio = socketwire.AsyncServer()
    async with running(sio) as url:
        c = socketio.AsyncClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await c.connect(url, namespaces=["/nope"], transports=["websocket"], wait_timeout=WAIT)
        await c.disconnect()


Handler = Callable[..., Awaitable[Any]]


async def test_disconnect_handler_sees_session_and_rooms() -> None:
    sio = socketwire.AsyncServer()
    seen: asyncio.Queue[Any] = asyncio.Queue()

    @sio.event
    async def connect(sid: str, environ: Any) -> None:
        await sio.save_session(sid, {"name": "ann"})
        await sio.enter_room(sid, "den")

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        session = await sio.get_session(sid)
        rooms = sorted(sio.rooms(sid))
        await sio.leave_room(sid, "den")
        seen.put_nowait((session, rooms, reason))

    async with running(sio) as url:
        async with client(url) as c:
            sid = c.get_sid()
        session, rooms, reason = await get(seen)
    assert session == {"name": "ann"}
    assert rooms == sorted([sid, "den"])
    # python-engineio's client closes its WebSocket before its goodbye packets go out
    assert reason in ("client disconnect", "transport close")
    assert sio.rooms(sid) == []


async def test_coroutine_handlers_started_eagerly_still_wait_and_fail_properly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = socketwire.AsyncServer()
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @sio.on("now")
    async def now(sid: str) -> str:
        return "no wait at all"

    @sio.on("waits")
    async def waits(sid: str) -> str:
        await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        return await gate

    @sio.on("fails_late")
    async def fails_late(sid: str) -> None:
        await asyncio.sleep(0.01)
        raise KeyError("late failure")

    async with running(sio) as url, client(url) as c:
        assert await c.call("now", timeout=WAIT) == "no wait at all"
        pending = asyncio.ensure_future(c.call("waits", timeout=WAIT))
        await asyncio.sleep(0.05)
        assert not pending.done()
        gate.set_result("opened")
        assert await pending == "opened"
        with pytest.raises(socketio.exceptions.TimeoutError):
            await c.call("fails_late", timeout=0.5)
        assert "late failure" in caplog.text
        assert await c.call("now", timeout=WAIT) == "no wait at all"


async def test_manager_queries_as_in_python_socketio() -> None:
    """Code written for python-socketio reads ``sio.manager`` for room membership."""
    sio = socketwire.AsyncServer()

    @sio.on("join")
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)

    async with running(sio) as url, client(url) as a, client(url) as b:
        await a.call("join", "den", timeout=WAIT)
        participants = dict(sio.manager.get_participants("/", "den"))
        assert list(participants) == [a.get_sid()]
        assert set(dict(sio.manager.get_participants("/", None))) == {a.get_sid(), b.get_sid()}
        assert sio.manager.get_namespaces() == ["/"]
        assert sorted(sio.manager.get_rooms(a.get_sid(), "/")) == sorted([a.get_sid(), "den"])
        assert sio.manager.is_connected(b.get_sid(), "/")
        assert not sio.manager.is_connected("nobody", "/")
        assert set(sio.manager.rooms["/"]["den"]) == {a.get_sid()}
        eio_sid = participants[a.get_sid()]
        assert sio.manager.sid_from_eio_sid(eio_sid, "/") == a.get_sid()
