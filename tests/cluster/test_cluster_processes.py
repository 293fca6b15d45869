"""Three real server processes (``python -m socketwire run``) joined through the real Redis
and the real RabbitMQ, with python-socketio and official JS clients spread across them."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from .harness import JSPool, PyClient, controls, emitter, eventually, js_got, nodes

PER_NODE_PY = 2
PER_NODE_JS = 2


async def test_operations_across_nodes(mq_url: str, channel: str) -> None:
    with nodes(mq_url, channel) as cluster:
        urls = [n.url for n in cluster]
        async with controls(cluster) as ctl:
            py = [await PyClient().connect(u) for u in urls for _ in range(PER_NODE_PY)]
            js = await JSPool.start()
            try:
                await js.connect([u for u in urls for _ in range(PER_NODE_JS)])
                await _operations(mq_url, channel, ctl, py, js)
            finally:
                await js.close()
                for c in py:
                    await c.close()


def _count(items: list[Any]) -> dict[str, int]:
    return dict(collections.Counter(str(item) for item in items))


async def _fence(
    ctl: list[PyClient], py: list[PyClient], js: JSPool, tag: str
) -> list[list[list[Any]]]:
    """A broadcast 'fence' from every node; returns once every client got all of them
    (everything each node emitted before arrived already: per-node order is kept)."""
    for index, c in enumerate(ctl):
        await c.call("emit", {"event": "fence", "data": f"{tag}-{index}"})
    want = sorted(f"{tag}-{i}" for i in range(len(ctl)))

    def done(events: list[Any]) -> bool:
        return sorted(x for x in events if str(x).startswith(tag + "-")) == want

    await eventually(lambda: all(done(c.got("fence")) for c in py), f"python clients: {tag}")

    async def js_done() -> bool:
        return all(done(js_got(ev, "fence")) for ev in await js.received())

    await eventually(js_done, f"JS clients: {tag}")
    return await js.received()


async def _operations(
    mq_url: str, channel: str, ctl: list[PyClient], py: list[PyClient], js: JSPool
) -> None:
    n_nodes = len(ctl)
    # 1. a broadcast from every node and from both kinds of external emitter process
    for index, c in enumerate(ctl):
        await c.call("emit", {"event": "news", "data": f"node{index}"})
    for mode in ("sync", "async"):
        stats = await emitter(mq_url, channel, mode, "news", f"emitter-{mode}", 1)
        assert stats["published"] == 1 and stats["dropped"] == 0
    received = await _fence(ctl, py, js, "f1")
    want = {**{f"node{i}": 1 for i in range(n_nodes)}}
    want.update({str(["emitter-sync", 0]): 1, str(["emitter-async", 0]): 1})
    for c in py:
        assert _count(c.got("news")) == want, c.events
    for events in received:
        assert _count(js_got(events, "news")) == want, events
    # control clients are clients too: they got everything once as well
    for c in ctl:
        assert _count(c.got("news")) == want

    # 2. rooms across nodes: one python and one JS client per node join "blue" themselves
    blue_py = py[::PER_NODE_PY]
    for c in blue_py:
        assert await c.call("join", "blue") is True
    for k in range(0, len(js.sids), PER_NODE_JS):
        assert await js.request("emit", client=k, event="join", args=["blue"]) is True
    # every node emits to the room, skipping the blue python client of node 1
    skipped = blue_py[1].sid
    for c in ctl:
        await c.call("emit", {"event": "room", "data": "blue", "room": "blue", "skip_sid": skipped})
    # a member emits to its room from its own node, skipping itself
    await blue_py[0].call(
        "emit", {"event": "room", "data": "self-skip", "room": "blue", "skip_self": True}
    )
    received = await _fence(ctl, py, js, "f2")
    for c in py:
        got = c.got("room")
        if c is blue_py[1]:
            assert got == ["self-skip"]
        elif c is blue_py[0]:
            assert got == ["blue"] * n_nodes
        elif c in blue_py:
            assert sorted(got) == sorted(["blue"] * n_nodes + ["self-skip"])
        else:
            assert got == []
    for k, events in enumerate(received):
        got = js_got(events, "room")
        if k % PER_NODE_JS == 0:
            assert sorted(got) == sorted(["blue"] * n_nodes + ["self-skip"])
        else:
            assert got == []

    # 3. enter_room / leave_room / disconnect of a sid owned by another node
    target = py[PER_NODE_PY * 2 + 1]  # a python client of node 2 in no room
    js_target = js.sids[1]  # a JS client of node 0 in no room
    await ctl[0].call("enter", target.sid, "green")
    await ctl[2].call("enter", js_target, "green")

    await eventually(lambda: _rooms_contains(ctl[2], target.sid, "green"), "remote enter_room")
    await eventually(lambda: _rooms_contains(ctl[0], js_target, "green"), "remote enter_room (JS)")
    await ctl[1].call("emit", {"event": "green", "data": 1, "room": "green"})
    await ctl[1].call("exit_room", target.sid, "green")
    await eventually(lambda: _rooms_lacks(ctl[2], target.sid, "green"), "remote leave_room")
    await ctl[1].call("emit", {"event": "green", "data": 2, "room": "green"})
    received = await _fence(ctl, py, js, "f3")
    assert target.got("green") == [1]
    assert js_got(received[1], "green") == [1, 2]
    for c in py:
        if c is not target:
            assert c.got("green") == []

    # 4. an emit with a callback / a call to a client owned by another node gets its ack
    assert await ctl[0].call("call", py[PER_NODE_PY * 2].sid, "add", [20, 22]) == 42
    assert await ctl[2].call("call", js.sids[0], "add", [1, 2]) == 3
    assert await ctl[1].call("emit_cb", py[0].sid, "add", [5, 6]) == [11]
    assert await ctl[0].call("emit_cb", js.sids[2 * PER_NODE_JS], "add", [7, 8]) == [15]

    # 5. disconnect a client of another node
    victim = py[PER_NODE_PY + 1]  # node 1
    gone = asyncio.Event()
    victim.client.on("disconnect", lambda *args: gone.set())
    await ctl[2].call("kick", victim.sid)
    await asyncio.wait_for(gone.wait(), 10)
    js_victim = js.sids[PER_NODE_JS * 2 + 1]  # node 2
    await ctl[0].call("kick", js_victim)

    async def js_victim_gone() -> bool:
        return js_victim not in (await ctl[2].call("status"))["sockets"]

    await eventually(js_victim_gone, "the JS client to be disconnected by another node")


async def _rooms_contains(owner: PyClient, sid: str, room: str) -> bool:
    return room in await owner.call("rooms_of", sid)


async def _rooms_lacks(owner: PyClient, sid: str, room: str) -> bool:
    return room not in await owner.call("rooms_of", sid)
