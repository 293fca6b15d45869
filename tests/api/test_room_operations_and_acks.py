"""Node's server-side room operations (``sockets_join``, ``sockets_leave``,
``disconnect_sockets``) and broadcasts awaiting every recipient's ack (``emit_with_ack``),
on ``AsyncServer`` and the threaded ``Server``, with python-socketio's AsyncClient as the
real peers. What a client is in is checked by what it receives: a room emit followed by a
broadcast "fence" (a connection's messages arrive in order, so a client that gets the fence
first did not get the room emit)."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

import socketwire

from .test_async_server_api import WAIT, collector, eventually, get, running

SERVERS = [socketwire.AsyncServer, socketwire.Server]


@pytest.fixture(params=SERVERS, ids=["async", "threads"])
def server_class(request: pytest.FixtureRequest) -> Any:
    return request.param


async def op(sio: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``sio.name(...)``: awaited on AsyncServer, on a worker thread on Server (its
    blocking methods must not block the loop the test's server runs on)."""
    method = getattr(sio, name)
    if isinstance(sio, socketwire.AsyncServer):
        return await method(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(method, *args, **kwargs))


@contextlib.asynccontextmanager
async def peer(url: str, **kwargs: Any) -> AsyncIterator[socketio.AsyncClient]:
    """A client that does not reconnect (a server-side disconnect must stay one)."""
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(url, transports=["websocket"], wait_timeout=WAIT, **kwargs)
    try:
        yield c
    finally:
        await c.disconnect()


async def fenced(sio: Any, *clients: socketio.AsyncClient, room: str) -> list[bool]:
    """Emit ``news`` to ``room``, then a fence to everyone: which clients got the news."""
    queues = [collector(c, "news") for c in clients]  # replaces the previous collectors
    await op(sio, "emit", "news", room, to=room)
    await op(sio, "emit", "news", "fence")
    got = []
    for queue in queues:
        first = await get(queue)
        if first != "fence":
            assert first == room and await get(queue) == "fence"
        got.append(first == room)
    return got


async def test_sockets_join_and_leave_select_by_room_sid_and_skip(server_class: Any) -> None:
    sio = server_class(namespaces=["/chat"])
    async with running(sio) as url, peer(url) as c1, peer(url) as c2, peer(url) as c3:
        s1, s2, s3 = c1.get_sid(), c2.get_sid(), c3.get_sid()
        # by sids
        await op(sio, "sockets_join", "den", to=[s1, s2])
        assert await fenced(sio, c1, c2, c3, room="den") == [True, True, False]
        # by room, less one, into several rooms
        await op(sio, "sockets_join", ["east", "west"], to="den", skip_sid=s2)
        assert await fenced(sio, c1, c2, c3, room="east") == [True, False, False]
        assert await fenced(sio, c1, c2, c3, room="west") == [True, False, False]
        # the whole namespace
        await op(sio, "sockets_join", "all")
        assert await fenced(sio, c1, c2, c3, room="all") == [True, True, True]
        # leave: everyone of "den" but c1 leaves "den" and "all"
        await op(sio, "sockets_leave", ["den", "all"], to="den", skip_sid=s1)
        assert await fenced(sio, c1, c2, c3, room="den") == [True, False, False]
        assert await fenced(sio, c1, c2, c3, room="all") == [True, False, True]
        assert sorted(sio.rooms(s1)) == sorted([s1, "den", "east", "west", "all"])
        assert sorted(sio.rooms(s2)) == [s2]
        # another namespace is another selection: nobody of "/" is touched
        await op(sio, "sockets_join", "den", namespace="/chat")
        await op(sio, "sockets_leave", "all", namespace="/chat")
        assert "all" in sio.rooms(s3)
        # a room nobody is in selects nobody
        await op(sio, "sockets_join", "x", to="nobody-here")
        assert await fenced(sio, c1, c2, c3, room="x") == [False, False, False]


async def test_disconnect_sockets_selects_exactly_and_close_ends_the_connection(
    server_class: Any,
) -> None:
    sio = server_class(namespaces=["/chat"])
    left: list[tuple[str, str, str]] = []

    def disconnect(sid: str, reason: str) -> None:
        left.append(("/", sid, reason))

    def chat_disconnect(sid: str, reason: str) -> None:
        left.append(("/chat", sid, reason))

    sio.on("disconnect", disconnect)
    sio.on("disconnect", chat_disconnect, namespace="/chat")
    sio.on("ping", lambda sid: "pong", namespace="/chat")
    sio.on("ping", lambda sid: "pong")

    async with running(sio) as url:
        both = {"namespaces": ["/", "/chat"]}
        async with peer(url) as c1, peer(url) as c2, peer(url, **both) as c3:
            async with peer(url, **both) as c4:
                s1, s2, s3, s4 = (c.get_sid() for c in (c1, c2, c3, c4))
                await op(sio, "sockets_join", "den", to=[s1, s2, s4])
                # the den less c2, without close: c1 and c4 leave "/"
                await op(sio, "disconnect_sockets", to="den", skip_sid=s2)
                await eventually(lambda: len(left) == 2, "two disconnects")
                assert sorted(left) == sorted(
                    [("/", s1, "server disconnect"), ("/", s4, "server disconnect")]
                )
                await eventually(lambda: not c1.connected, "c1 to be disconnected")
                # c4's connection and its /chat socket stay
                assert await c4.call("ping", namespace="/chat", timeout=WAIT) == "pong"
                assert await c2.call("ping", timeout=WAIT) == "pong"
                # with close: c3's connection ends, so its /chat socket goes too
                sessions = len(sio.core.engine.sessions)
                left.clear()
                await op(sio, "disconnect_sockets", to=s3, close=True)
                await eventually(lambda: len(left) == 2, "both of c3's namespaces")
                c3_chat = next(sid for nsp, sid, _ in left if nsp == "/chat")
                assert sorted(left) == sorted(
                    [("/", s3, "server disconnect"), ("/chat", c3_chat, "server disconnect")]
                )
                assert len(sio.core.engine.sessions) == sessions - 1
                await eventually(lambda: not c3.connected, "c3 to be disconnected")
                # everyone else of "/" (just c2 now), by the default selection
                left.clear()
                await op(sio, "disconnect_sockets", namespace="/chat")  # c4's /chat only
                await eventually(lambda: len(left) == 1, "c4's /chat disconnect")
                assert left[0][0] == "/chat"
                await op(sio, "disconnect_sockets")
                await eventually(lambda: len(left) == 2, "c2's disconnect")
                assert left[1] == ("/", s2, "server disconnect")


async def test_emit_with_ack_collects_every_answer(server_class: Any) -> None:
    sio = server_class()
    async with running(sio) as url, peer(url) as c1, peer(url) as c2, peer(url) as c3:
        c1.on("who", lambda n: f"c1:{n}")
        c2.on("who", lambda n: f"c2:{n}")

        async def slow(n: int) -> tuple[str, int]:
            await asyncio.sleep(0.1)
            return "c3", n  # two ack arguments: a tuple, as call() returns them

        c3.on("who", slow)
        responses = await op(sio, "emit_with_ack", "who", 7, timeout=WAIT)
        assert sorted(map(str, responses)) == sorted(["c1:7", "c2:7", str(("c3", 7))])
        await op(sio, "sockets_join", "den", to=[c1.get_sid(), c3.get_sid()])
        responses = await op(
            sio, "emit_with_ack", "who", 8, to="den", skip_sid=c3.get_sid(), timeout=WAIT
        )
        assert responses == ["c1:8"]
        assert await op(sio, "emit_with_ack", "who", to="empty-room", timeout=WAIT) == []


async def test_emit_with_ack_times_out_with_the_answers_received(server_class: Any) -> None:
    sio = server_class()
    async with running(sio) as url, peer(url) as c1, peer(url) as c2, peer(url) as c3:
        c1.on("who", lambda: "c1")
        c2.on("who", lambda: "c2")
        release = asyncio.Event()

        async def hold() -> str:  # c3 answers only after the timeout
            await release.wait()
            return "late"

        c3.on("who", hold)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(socketwire.TimeoutError) as caught:
            await op(sio, "emit_with_ack", "who", timeout=0.5)
        assert 0.4 <= loop.time() - started < WAIT
        assert sorted(caught.value.responses) == ["c1", "c2"]
        assert isinstance(caught.value, builtins.TimeoutError)
        assert "2 of 3" in str(caught.value)
        # the request c3 had not answered is forgotten, its late answer ignored
        assert sio.core.sockets[c3.get_sid()].acks == {}
        release.set()  # c3's late answer to the abandoned request goes nowhere
        responses = await op(sio, "emit_with_ack", "who", timeout=WAIT)
        assert sorted(responses) == ["c1", "c2", "late"]
        responses = await op(sio, "emit_with_ack", "who", skip_sid=c3.get_sid(), timeout=WAIT)
        assert sorted(responses) == ["c1", "c2"]


async def test_emit_with_ack_survives_recipients_disconnecting(server_class: Any) -> None:
    sio = server_class()
    async with running(sio) as url, peer(url) as c1, peer(url) as c2, peer(url) as c3:
        s2, s3 = c2.get_sid(), c3.get_sid()
        release = asyncio.Event()

        async def hold() -> None:  # c2 and c3 answer only at the end (if still there)
            await release.wait()

        c1.on("who", lambda: "c1")
        c2.on("who", hold)
        c3.on("who", hold)
        task = asyncio.ensure_future(op(sio, "emit_with_ack", "who", timeout=20))
        await eventually(
            lambda: bool(sio.core.sockets[s2].acks and sio.core.sockets[s3].acks),
            "the ack requests to go out",
        )
        await c2.disconnect()  # one leaves by itself, the server drops the other
        await op(sio, "disconnect_sockets", to=s3)
        # the 20 s timeout is not waited for: those who left are no longer awaited
        assert await asyncio.wait_for(task, WAIT) == ["c1"]
        release.set()
