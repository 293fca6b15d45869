"""Counted delivery under load: three real nodes, Python and JS clients on each, every node
and an external emitter broadcasting numbered messages; every client must get every
message exactly once, in each publisher's order."""

from __future__ import annotations

import asyncio
import time

from .harness import JSPool, PyClient, controls, emitter, eventually, js_got, nodes

PY_PER_NODE = 5
JS_PER_NODE = 5
PER_NODE = 600  # broadcasts from each node
FROM_EMITTER = 300


async def test_counted_delivery(mq_url: str, channel: str) -> None:
    with nodes(mq_url, channel) as cluster:
        urls = [n.url for n in cluster]
        async with controls(cluster) as ctl:
            py = [await PyClient().connect(u) for u in urls for _ in range(PY_PER_NODE)]
            js = await JSPool.start()
            try:
                await js.connect([u for u in urls for _ in range(JS_PER_NODE)])
                started = time.monotonic()
                floods = [
                    c.call("flood", "seq", f"n{i}", PER_NODE, timeout=60) for i, c in enumerate(ctl)
                ]
                results = await asyncio.gather(
                    *floods, emitter(mq_url, channel, "async", "seq", "emitter", FROM_EMITTER)
                )
                assert results[:3] == [PER_NODE] * 3
                assert results[3]["published"] == FROM_EMITTER
                want = {f"n{i}": list(range(PER_NODE)) for i in range(len(ctl))}
                want["emitter"] = list(range(FROM_EMITTER))
                total = sum(len(v) for v in want.values())

                def complete(got: list[list[object]]) -> bool:
                    return len(got) >= total

                clients = [*py, *ctl]
                await eventually(
                    lambda: all(complete(c.got("seq")) for c in clients), "python clients", 60
                )

                async def js_complete() -> bool:
                    return all(complete(js_got(ev, "seq")) for ev in await js.received())

                await eventually(js_complete, "JS clients", 60)
                elapsed = time.monotonic() - started
                # a last fence from each node: nothing else is still on its way
                for i, c in enumerate(ctl):
                    await c.call("emit", {"event": "fence", "data": i})
                await eventually(
                    lambda: all(len(c.got("fence")) == len(ctl) for c in clients), "fences"
                )
                every = [c.got("seq") for c in clients] + [
                    js_got(ev, "seq") for ev in await js.received()
                ]
                for got in every:
                    by_source: dict[str, list[int]] = {}
                    for source, number in got:
                        by_source.setdefault(source, []).append(number)
                    # zero lost, zero duplicated, each publisher's order kept
                    assert by_source == want
                deliveries = total * len(every)
                print(
                    f"\n{mq_url.split(':')[0]}: {deliveries} deliveries to {len(every)} clients"
                    f" in {elapsed:.2f} s ({deliveries / elapsed:.0f}/s)"
                )
                for c in ctl:
                    stats = (await c.call("status"))["stats"]
                    assert stats["dropped"] == 0 and stats["invalid"] == 0
            finally:
                await js.close()
                for c in py:
                    await c.close()
