"""Faults: the broker restarts during traffic, and garbage arrives on the channel.

What the managers promise (socketwire/managers/base.py): a node's own publishes wait in its
queue while the broker is away and go out, in order, once it is back; what other nodes
publish while this node's subscription is down never reaches this node's clients (neither
Redis pub/sub nor an exclusive AMQP queue keeps anything for an absent subscriber); local
clients get a node's own emits at once, broker or not. Nothing is delivered twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketwire import cluster

from .harness import Broker, PyClient, controls, eventually, nodes

PER_NODE = 2
INTERVAL = 0.02


async def _statuses(ctl: list[PyClient]) -> list[dict[str, Any]]:
    return [await c.call("status") for c in ctl]


async def _sent(ctl: list[PyClient]) -> list[int]:
    return [s["tickers"][f"n{i}"] for i, s in enumerate(await _statuses(ctl))]


def _numbers(client: PyClient, tag: str) -> list[int]:
    return [n for source, n in client.got("tick") if source == tag]


@pytest.mark.parametrize("kind", ["redis", "amqp"])
async def test_broker_restart_during_traffic(
    kind: str, request: pytest.FixtureRequest, channel: str
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    broker = Broker(kind)
    with nodes(url, channel) as cluster_nodes:
        async with controls(cluster_nodes) as ctl:
            py = [await PyClient().connect(n.url) for n in cluster_nodes for _ in range(PER_NODE)]
            owner = {id(c): i // PER_NODE for i, c in enumerate(py)}
            try:
                for i, c in enumerate(ctl):
                    assert await c.call("start_ticker", "tick", f"n{i}", INTERVAL)
                # traffic flows; `mark`: what every client has got before the outage
                await eventually(lambda: min(_sent_now(py, ctl)) >= 10, "ticks to flow")
                mark = await _sent(ctl)
                await eventually(
                    lambda: all(
                        len(_numbers(c, f"n{a}")) >= mark[a] for c in py for a in range(len(ctl))
                    ),
                    "everything sent before the outage to arrive",
                )
                try:
                    broker.stop()

                    async def all_down() -> bool:
                        return not any(s["connected"] for s in await _statuses(ctl))

                    await eventually(all_down, "every node to notice the outage", 20)
                    during = await _sent(ctl)

                    async def traffic_during_outage() -> bool:
                        now = await _sent(ctl)
                        return all(now[a] >= during[a] + 15 for a in range(len(ctl)))

                    await eventually(traffic_during_outage, "emits during the outage")
                    queued = [s["queued"] for s in await _statuses(ctl)]
                    assert all(q > 0 for q in queued), queued  # held back, not dropped
                finally:
                    broker.restore()

                # the cluster recovers by itself: every node resubscribes and flushes
                async def recovered() -> bool:
                    return all(s["connected"] and s["queued"] == 0 for s in await _statuses(ctl))

                await eventually(recovered, "the nodes to reconnect and flush", 40)
                after = await _sent(ctl)
                await eventually(
                    lambda: all(
                        max(_numbers(c, f"n{a}")) >= after[a] + 10
                        for c in py
                        for a in range(len(ctl))
                    ),
                    "traffic after recovery to reach every client",
                )
                final = [await c.call("stop_ticker", f"n{i}") for i, c in enumerate(ctl)]
                for i, c in enumerate(ctl):
                    await c.call("emit", {"event": "fence", "data": i})
                await eventually(
                    lambda: all(len(c.got("fence")) == len(ctl) for c in py), "the fences", 20
                )
                statuses = await _statuses(ctl)
            finally:
                for c in py:
                    await c.close()

    report = []
    for a in range(len(ctl)):
        everything = list(range(final[a]))
        gaps: dict[int, list[int]] = {}
        for c in py:
            b = owner[id(c)]
            got = _numbers(c, f"n{a}")
            assert len(got) == len(set(got)), f"duplicates from n{a} at n{b}"
            assert got == sorted(got), f"n{a}'s order broken at n{b}"
            if a == b:
                assert got == everything  # local clients never depend on the broker
                continue
            missing = sorted(set(everything) - set(got))
            # exactly the messages of one window: [first, last] contiguous, within the outage
            if missing:
                assert missing == list(range(missing[0], missing[-1] + 1)), missing
                assert mark[a] <= missing[0] and missing[-1] < after[a], (mark, after, missing)
            # every client of node b misses the same messages: it is b's subscription that was
            # down, not a client's connection
            assert gaps.setdefault(b, missing) == missing
        for b, missing in sorted(gaps.items()):
            if missing:
                assert statuses[b]["stats"]["reconnects"] >= 1
            report.append(
                f"n{a}->n{b}: {len(missing)} of {final[a]} dropped"
                + (f" (#{missing[0]}..#{missing[-1]})" if missing else "")
                + f"; may drop #{mark[a]}..#{after[a] - 1}"
                + f"; #{after[a]}..#{final[a] - 1} (after recovery) all delivered"
            )
    print(f"\n{kind} restart:\n  " + "\n  ".join(report))


def _sent_now(py: list[PyClient], ctl: list[PyClient]) -> list[int]:
    """Per node, the fewest of its ticks any client has received."""
    return [min(len(_numbers(c, f"n{a}")) for c in py) for a in range(len(ctl))]


@pytest.mark.parametrize("kind", ["redis", "amqp"])
async def test_garbage_and_foreign_messages_are_ignored(
    kind: str, request: pytest.FixtureRequest, channel: str
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    foreign = cluster.ClusterNode(None, channel + "-other")
    bad: list[bytes] = [
        b"",
        b"\x00\x01garbage",
        b"\x80\x04\x95pickle",  # a pickle header: never unpickled
        b'{"op": "emit", "nsp": "/"}',
        cluster.encode({**foreign.emit("/", ["news", "wrong app"], None, None)}),
        cluster.encode({**foreign.emit("/", ["news", "wrong version"], None, None), "v": 99}),
        cluster.encode({**foreign.emit("/", ["news", "bad op"], None, None), "op": "exec"}),
        cluster.encode(
            {**foreign.emit("/", ["news", "bad packet"], None, None), "ch": channel, "packet": 5}
        ),
    ]
    with nodes(url, channel) as cluster_nodes:
        async with controls(cluster_nodes) as ctl:
            py = [await PyClient().connect(n.url) for n in cluster_nodes]
            try:
                await _publish_raw(kind, url, channel, bad)
                # the other app's own channel: its messages never reach this app at all
                await _publish_raw(
                    kind,
                    url,
                    channel + "-other",
                    [cluster.encode(foreign.emit("/", ["news", "x"], None, None))],
                )
                await ctl[0].call("emit", {"event": "news", "data": "fence"})

                async def counted() -> bool:
                    return all(s["stats"]["invalid"] >= len(bad) for s in await _statuses(ctl))

                try:
                    await eventually(counted, "every node to count the bad messages")
                except AssertionError:
                    raise AssertionError(
                        [s["stats"] for s in await _statuses(ctl)], cluster_nodes[0].log()
                    ) from None
                await eventually(lambda: all(c.got("news") == ["fence"] for c in py), "the fence")
                for s in await _statuses(ctl):
                    assert s["stats"]["invalid"] == len(bad)
                for node in cluster_nodes:
                    log = node.log()
                    assert log.count("ignoring a message on channel") == len(bad), log
                    assert "message of channel" in log and "unsupported version 99" in log
                # the nodes still work
                await ctl[1].call("emit", {"event": "news", "data": "after"})
                await eventually(
                    lambda: all(c.got("news") == ["fence", "after"] for c in py), "a broadcast"
                )
            finally:
                for c in py:
                    await c.close()


async def _publish_raw(kind: str, url: str, channel: str, payloads: list[bytes]) -> None:
    """Publish bytes on the channel the way any other program could."""
    if kind == "redis":
        for payload in payloads:
            proc = await asyncio.create_subprocess_exec(
                "redis-cli",
                "-h",
                "127.0.0.1",
                "-x",
                "publish",
                channel,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.wait_for(proc.communicate(payload), 10)
            assert proc.returncode == 0
        return
    import aio_pika

    connection = await aio_pika.connect(url)
    async with connection:
        amqp_channel = await connection.channel()
        exchange = await amqp_channel.declare_exchange(
            channel, aio_pika.ExchangeType.FANOUT, durable=False
        )
        for payload in payloads:
            await exchange.publish(aio_pika.Message(payload), routing_key="")
