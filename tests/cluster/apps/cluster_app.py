"""One node of the test cluster: ``python -m socketwire run cluster_app:sio``.

Configured by the environment: ``SW_MQ_URL`` (message queue), ``SW_CHANNEL``, ``SW_NODE``
(this node's name). Its events let a test drive every cluster operation from any node."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import socketwire
from socketwire.managers import AsyncManager, from_url

NODE = os.environ.get("SW_NODE", "node")
manager = from_url(os.environ["SW_MQ_URL"], channel=os.environ["SW_CHANNEL"], asyncio=True)
assert isinstance(manager, AsyncManager)
sio = socketwire.AsyncServer(client_manager=manager, cors_allowed_origins="*")
tickers: dict[str, dict[str, Any]] = {}


@sio.event
async def join(sid: str, room: str) -> bool:
    await sio.enter_room(sid, room)
    return True


@sio.event
async def leave(sid: str, room: str) -> bool:
    await sio.leave_room(sid, room)
    return True


@sio.event
async def emit(sid: str, spec: dict[str, Any]) -> bool:
    """Emit from this node: spec = {event, data, to?, room?, skip_sid?, skip_self?}."""
    skip = spec.get("skip_sid")
    if spec.get("skip_self"):
        skip = sid
    await sio.emit(
        spec["event"], spec.get("data"), to=spec.get("to"), room=spec.get("room"), skip_sid=skip
    )
    return True


@sio.event
async def enter(sid: str, other: str, room: str) -> bool:
    await sio.enter_room(other, room)
    return True


@sio.event
async def exit_room(sid: str, other: str, room: str) -> bool:
    await sio.leave_room(other, room)
    return True


@sio.event
async def kick(sid: str, other: str) -> bool:
    await sio.disconnect(other)
    return True


@sio.event
async def call(sid: str, other: str, event: str, data: Any) -> Any:
    args = tuple(data) if isinstance(data, list) else data  # a list: several arguments
    return await sio.call(event, args, to=other, timeout=5)


@sio.event
async def emit_cb(sid: str, other: str, event: str, data: Any) -> list[Any]:
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    args = tuple(data) if isinstance(data, list) else data
    await sio.emit(event, args, to=other, callback=lambda *res: future.set_result(res))
    return list(await asyncio.wait_for(future, 5))


@sio.event
async def status(sid: str) -> dict[str, Any]:
    return {
        "node": NODE,
        "pid": os.getpid(),
        "connected": manager.connected,
        "stats": manager.stats,
        "queued": len(manager._queue),
        "sockets": sorted(sio.core.sockets),
        "tickers": {tag: t["sent"] for tag, t in tickers.items()},
    }


@sio.event
async def flood(sid: str, event: str, tag: str, count: int) -> int:
    """``count`` broadcasts [tag, 0..count-1], as fast as the app can emit."""
    for i in range(count):
        await sio.emit(event, [tag, i])
    return count


@sio.event
async def start_ticker(sid: str, event: str, tag: str, interval: float) -> bool:
    state: dict[str, Any] = {"sent": 0, "run": True}

    async def tick() -> None:
        while state["run"]:
            await sio.emit(event, [tag, state["sent"]])
            state["sent"] += 1
            await asyncio.sleep(interval)

    state["task"] = asyncio.get_running_loop().create_task(tick())
    tickers[tag] = state
    return True


@sio.event
async def stop_ticker(sid: str, tag: str) -> int:
    state = tickers[tag]
    state["run"] = False
    await state["task"]
    return int(state["sent"])


@sio.event
async def rooms_of(sid: str, other: str) -> list[str]:
    return sorted(sio.rooms(other))
