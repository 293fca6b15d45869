"""Two nodes in one process, each its own AsyncServer on its own port, joined through the
real Redis; python-socketio clients on each. Quick checks of every cluster operation; the
multi-process tests live beside this file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.api.test_async_server_api import WAIT, client, collector, eventually, get, running

import socketwire


@contextlib.asynccontextmanager
async def node(redis_url: str, channel: str) -> AsyncIterator[tuple[socketwire.AsyncServer, str]]:
    manager = socketwire.AsyncRedisManager(redis_url, channel=channel)
    sio = socketwire.AsyncServer(client_manager=manager)

    @sio.on("join")
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)

    async with running(sio) as url:
        manager.start()
        await eventually(lambda: manager.connected, "the node to subscribe")
        try:
            yield sio, url
        finally:
            await manager.close()


async def test_broadcast_rooms_skip_and_remote_operations(redis_url: str, channel: str) -> None:
    async with node(redis_url, channel) as (a, url_a), node(redis_url, channel) as (b, url_b):
        async with client(url_a) as ca, client(url_b) as cb:
            qa, qb = collector(ca, "news"), collector(cb, "news")
            # a broadcast from either node reaches both, exactly once
            await a.emit("news", "from a")
            await b.emit("news", "from b")
            assert sorted([await get(qa), await get(qa)]) == ["from a", "from b"]
            assert sorted([await get(qb), await get(qb)]) == ["from a", "from b"]
            # node A puts B's client in a room; a room emit from A reaches it
            await a.enter_room(cb.get_sid(), "den")
            await a.emit("news", "den only", room="den")
            assert await get(qb) == "den only"
            # skip_sid across nodes
            await ca.call("join", "hall", timeout=WAIT)
            await a.enter_room(cb.get_sid(), "hall")
            # operations of one node reach the others in order; between nodes there is
            # none: wait for A's join to land on B before B emits
            await eventually(lambda: "hall" in b.rooms(cb.get_sid()), "the remote join")
            await b.emit("news", "hall", room="hall", skip_sid=ca.get_sid())
            assert await get(qb) == "hall"
            await a.emit("news", "fence")  # everything before the fence arrived already
            assert await get(qa) == "fence" and await get(qb) == "fence"
            # call() to a client of the other node
            cb.on("add", lambda x, y: x + y)
            assert await a.call("add", (20, 22), to=cb.get_sid(), timeout=WAIT) == 42
            # emit with a callback across nodes
            acks: asyncio.Queue[Any] = asyncio.Queue()
            await a.emit("add", (1, 2), to=cb.get_sid(), callback=lambda *r: acks.put_nowait(r))
            assert await get(acks) == (3,)
            # close_room from B empties A's and B's rooms
            await b.close_room("hall")
            await eventually(lambda: "hall" not in a.rooms(ca.get_sid()), "the remote close")
            await a.emit("news", "after close", room="hall")
            await a.emit("news", "fence2")
            assert await get(qa) == "fence2"
            assert await get(qb) == "fence2"
            # disconnect a client of the other node
            gone = asyncio.Event()
            cb.on("disconnect", lambda *args: gone.set())
            await a.disconnect(cb.get_sid())
            await asyncio.wait_for(gone.wait(), WAIT)


async def test_write_only_emitter(redis_url: str, channel: str) -> None:
    async with node(redis_url, channel) as (_, url_a), client(url_a) as ca:
        news = collector(ca, "news")
        emitter = socketwire.AsyncRedisManager(redis_url, channel=channel, write_only=True)
        await emitter.emit("news", {"from": "worker"})
        assert await get(news) == {"from": "worker"}
        sync_emitter = socketwire.RedisManager(redis_url, channel=channel, write_only=True)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: sync_emitter.emit("news", b"\x00bytes")
        )
        assert await get(news) == b"\x00bytes"
        sync_emitter.close()
        await emitter.close()
        with pytest.raises(socketwire.SocketwireError):
            await emitter.emit("news", callback=print)


async def test_other_channels_and_garbage_are_ignored(
    redis_url: str, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    async with node(redis_url, channel) as (a, url_a), client(url_a) as ca:
        news = collector(ca, "news")
        other = socketwire.AsyncRedisManager(redis_url, channel=channel + "-other", write_only=True)
        await other.emit("news", "wrong app")
        raw = aioredis.Redis.from_url(redis_url)
        for garbage in [b"", b"\x00\x01", b"\x81\xa1v\x02", b"pickle\x80\x04", b'{"op":"emit"}']:
            await raw.publish(channel, garbage)
        await raw.aclose()
        await a.emit("news", "fence")
        assert await get(news) == "fence"  # nothing from the other app, nothing from garbage
        await eventually(lambda: a.manager.stats["invalid"] >= 4, "garbage to be counted")
        assert "ignoring a message" in caplog.text
        await other.close()


def test_manager_must_match_the_runtime(redis_url: str, channel: str) -> None:
    with pytest.raises(TypeError, match="AsyncManager"):
        socketwire.AsyncServer(client_manager=socketwire.RedisManager(redis_url, channel=channel))
    with pytest.raises(TypeError, match="ThreadManager"):
        socketwire.Server(client_manager=socketwire.AsyncRedisManager(redis_url, channel=channel))


async def test_a_burst_of_emits_loses_nothing(redis_url: str, channel: str) -> None:
    """Backpressure: 3000 emits in a loop with a queue of 1000 drop nothing."""
    async with node(redis_url, channel) as (a, _), node(redis_url, channel) as (_b, url_b):
        a.manager.queue_size = 1000
        async with client(url_b) as cb:
            got: list[int] = []
            cb.on("n", got.append)
            for i in range(3000):
                await a.emit("n", i)
            await eventually(lambda: len(got) == 3000, "3000 messages")
            assert got == list(range(3000))
            assert a.manager.stats["dropped"] == 0


async def test_fetch_sockets_across_nodes(redis_url: str, channel: str) -> None:
    async with node(redis_url, channel) as (a, url_a), node(redis_url, channel) as (b, url_b):
        await eventually(
            lambda: (
                len(a.manager.node.alive_peers(a.manager.node.clock())) == 1
                and len(b.manager.node.alive_peers(b.manager.node.clock())) == 1
            ),
            "the nodes to know each other",
        )
        async with client(url_a) as ca, client(url_b) as cb1, client(url_b) as cb2:
            await cb1.call("join", "den", timeout=WAIT)
            await ca.call("join", "den", timeout=WAIT)
            everyone = await a.fetch_sockets()
            assert {s["sid"] for s in everyone} == {ca.get_sid(), cb1.get_sid(), cb2.get_sid()}
            den = await b.fetch_sockets(room="den")
            assert {s["sid"] for s in den} == {ca.get_sid(), cb1.get_sid()}
            assert all("den" in s["rooms"] and s["nsp"] == "/" for s in den)
            # a node that stops answering makes the query time out, saying which
            a.manager.node.peers["ghost-node"] = a.manager.node.clock()
            with pytest.raises(socketwire.TimeoutError, match="ghost-node"):
                await a.fetch_sockets(timeout=0.3)


def test_fetch_sockets_without_a_cluster() -> None:
    sio = socketwire.Server()
    assert sio.fetch_sockets() == []


async def test_emitter_with_the_broker_down_returns_and_keeps_the_message() -> None:
    """An unreachable broker: emit() returns after its bounded wait, the message stays
    queued (the documented behaviour), nothing hangs."""
    emitter = socketwire.AsyncRedisManager(
        "redis://127.0.0.1:1/0", channel="nowhere", write_only=True
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(emitter.emit("news", "lost?"), 15)
    assert loop.time() - started < 10
    assert len(emitter._queue) == 1 and emitter.stats["published"] == 0
    await asyncio.wait_for(emitter.close(), 15)
