"""Node's server-side room operations and broadcasts awaiting every ack, across two nodes
joined through the real Redis (each its own server on its own port, in this process), with
python-socketio clients on both."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.api.test_async_server_api import WAIT, eventually, running
from tests.api.test_room_operations_and_acks import fenced, op, peer
from tests.cluster.test_redis_inprocess import node

import socketwire


async def know_each_other(*servers: Any) -> None:
    """Wait until every node counts the others alive (a cluster-wide gather waits for
    exactly those)."""

    def known() -> bool:
        return all(
            len(s.manager.node.alive_peers(s.manager.node.clock())) == len(servers) - 1
            for s in servers
        )

    await eventually(known, "the nodes to know each other")


@contextlib.asynccontextmanager
async def thread_node(redis_url: str, channel: str) -> AsyncIterator[tuple[Any, str]]:
    """A threaded ``Server`` node (``RedisManager``), served in the test's loop."""
    manager = socketwire.RedisManager(redis_url, channel=channel)
    sio = socketwire.Server(client_manager=manager)
    async with running(sio) as url:
        await eventually(lambda: manager.connected, "the node to subscribe")
        try:
            yield sio, url
        finally:
            await asyncio.get_running_loop().run_in_executor(None, manager.close)


async def test_room_operations_reach_the_other_node(redis_url: str, channel: str) -> None:
    async with node(redis_url, channel) as (a, url_a), node(redis_url, channel) as (b, url_b):
        left: list[tuple[str, str]] = []
        b.on("disconnect", lambda sid, reason: left.append((sid, reason)))
        async with peer(url_a) as ca, peer(url_b) as cb1, peer(url_b) as cb2:
            sa, s1, s2 = ca.get_sid(), cb1.get_sid(), cb2.get_sid()
            # A selects by sids, one of its own and one of B's
            await a.sockets_join("den", to=[sa, s1])
            await eventually(lambda: "den" in b.rooms(s1), "the remote join")
            assert "den" in a.rooms(sa) and "den" not in b.rooms(s2)
            # a room emit from B reaches exactly the den, on both nodes
            assert await fenced(b, ca, cb1, cb2, room="den") == [True, True, False]
            # every socket of the namespace, on both nodes
            await a.sockets_join(["all", "hall"])
            await eventually(lambda: "hall" in b.rooms(s2), "the remote join of everyone")
            assert await fenced(b, ca, cb1, cb2, room="all") == [True, True, True]
            # leave, selected by room less a sid
            await a.sockets_leave(["den", "hall"], to="den", skip_sid=sa)
            await eventually(lambda: "den" not in b.rooms(s1), "the remote leave")
            assert "hall" not in b.rooms(s1) and "hall" in b.rooms(s2)
            assert await fenced(a, ca, cb1, cb2, room="den") == [True, False, False]
            # disconnect B's clients of "all" but cb1, from A; A's own client is skipped too
            await a.disconnect_sockets(to="all", skip_sid=[s1, sa])
            await eventually(lambda: left == [(s2, "server disconnect")], "cb2 to leave")
            await eventually(lambda: not cb2.connected, "cb2 to be disconnected")
            assert ca.connected and cb1.connected
            # close=True from A ends cb1's connection on B
            sessions = len(b.core.engine.sessions)
            await a.disconnect_sockets(to=s1, close=True)
            await eventually(lambda: len(b.core.engine.sessions) == sessions - 1, "the close")
            await eventually(lambda: not cb1.connected, "cb1 to be disconnected")
            assert ca.connected


async def test_emit_with_ack_gathers_every_node(redis_url: str, channel: str) -> None:
    async with node(redis_url, channel) as (a, url_a), node(redis_url, channel) as (b, url_b):
        await know_each_other(a, b)
        release = asyncio.Event()
        held: list[int] = []

        async def hold(n: int) -> str:
            held.append(n)
            await release.wait()
            return "late"

        async with peer(url_a) as ca, peer(url_b) as cb1, peer(url_b) as cb2:
            ca.on("who", lambda n: f"ca:{n}")
            cb1.on("who", lambda n: f"cb1:{n}")
            cb2.on("who", lambda n: f"cb2:{n}")
            assert sorted(await a.emit_with_ack("who", 1, timeout=WAIT)) == [
                "ca:1",
                "cb1:1",
                "cb2:1",
            ]
            # a selection that is only on the other node, less one of its clients
            await b.sockets_join("den", to=[cb1.get_sid(), cb2.get_sid()])
            responses = await a.emit_with_ack(
                "who", 2, to="den", skip_sid=cb2.get_sid(), timeout=WAIT
            )
            assert responses == ["cb1:2"]
            # a remote recipient too slow: the timeout, with the answers that arrived
            cb2.on("who", hold)
            with pytest.raises(socketwire.TimeoutError) as caught:
                await a.emit_with_ack("who", 3, timeout=0.5)
            assert sorted(caught.value.responses) == ["ca:3", "cb1:3"]
            assert "2 of 3" in str(caught.value)
            # a remote recipient that leaves is no longer awaited (long before 20 s)
            task = asyncio.ensure_future(a.emit_with_ack("who", 4, timeout=20))
            await eventually(lambda: 4 in held, "the request to reach cb2")
            await cb2.disconnect()
            assert sorted(await asyncio.wait_for(task, WAIT)) == ["ca:4", "cb1:4"]
            release.set()
            # a node that is alive but never counts its recipients: named in the error
            a.manager.node.peers["ghost-node"] = a.manager.node.clock()
            with pytest.raises(socketwire.TimeoutError, match="ghost-node") as caught:
                await a.emit_with_ack("who", 5, timeout=0.5)
            assert sorted(caught.value.responses) == ["ca:5", "cb1:5"]


async def test_threaded_node_in_the_cluster(redis_url: str, channel: str) -> None:
    """The threaded Server's blocking calls, across to an asyncio node."""
    async with (
        thread_node(redis_url, channel) as (t, url_t),
        node(redis_url, channel) as (b, url_b),
    ):
        await know_each_other(t, b)
        async with peer(url_t) as ct, peer(url_b) as cb1, peer(url_b) as cb2:
            ct.on("who", lambda: "ct")
            cb1.on("who", lambda: "cb1")
            cb2.on("who", lambda: "cb2")
            await op(t, "sockets_join", "den", to=[cb1.get_sid(), ct.get_sid()])
            await eventually(lambda: "den" in b.rooms(cb1.get_sid()), "the remote join")
            assert sorted(await op(t, "emit_with_ack", "who", to="den", timeout=WAIT)) == [
                "cb1",
                "ct",
            ]
            assert sorted(await b.emit_with_ack("who", timeout=WAIT)) == ["cb1", "cb2", "ct"]
            gone = asyncio.Event()
            cb2.on("disconnect", lambda *args: gone.set())
            await op(t, "disconnect_sockets", skip_sid="den")
            await asyncio.wait_for(gone.wait(), WAIT)
            assert ct.connected and cb1.connected
