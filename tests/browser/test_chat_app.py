"""The chat example's protocol, checked without a browser.

Uses python-socketio's AsyncClient (a test dependency) against the app subprocess, so the
app's rules (acks, validation, history size, who gets which broadcast) are pinned down
even where Chromium is absent. Every wait is bounded by WAIT.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio  # type: ignore[import-untyped]
from chat_harness import ChatServer

WAIT = 5.0


class Peer:
    """A chat client that records every server event in per-event queues."""

    EVENTS = ("rooms", "notice", "members", "chat message", "typing")

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.queues: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        for event in self.EVENTS:
            self.client.on(event, self._recorder(event))

    def _recorder(self, event: str) -> Callable[[Any], Any]:
        async def record(data: Any) -> None:
            self.queues[event].put_nowait(data)

        return record

    async def connect(self, url: str, transport: str) -> None:
        await self.client.connect(url, transports=[transport], wait_timeout=WAIT)

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.client.call(event, data, timeout=WAIT)

    async def next(self, event: str, where: Callable[[Any], bool] = lambda _: True) -> Any:
        """The next ``event`` matching ``where``, skipping others; fails after WAIT."""

        async def find() -> Any:
            while True:
                data = await self.queues[event].get()
                if where(data):
                    return data

        try:
            return await asyncio.wait_for(find(), WAIT)
        except asyncio.TimeoutError:
            raise AssertionError(f"no matching {event!r} event within {WAIT}s") from None

    def drain(self, event: str) -> list[Any]:
        items = []
        while not self.queues[event].empty():
            items.append(self.queues[event].get_nowait())
        return items


async def peer_factory(url: str) -> AsyncIterator[Callable[..., Any]]:
    made: list[Peer] = []

    async def make(transport: str = "websocket") -> Peer:
        peer = Peer()
        await peer.connect(url, transport)
        made.append(peer)
        return peer

    try:
        yield make
    finally:
        for peer in made:
            if peer.client.connected:
                await peer.client.disconnect()


@pytest.fixture
async def peers(chat_server: ChatServer) -> AsyncIterator[Callable[..., Any]]:
    async for make in peer_factory(chat_server.url):
        yield make


@pytest.fixture
async def small_history_peers(
    small_history_chat_server: ChatServer,
) -> AsyncIterator[Callable[..., Any]]:
    async for make in peer_factory(small_history_chat_server.url):
        yield make


def http_get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=WAIT) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def test_serves_page_and_official_client_bundle(chat_server: ChatServer) -> None:
    status, ctype, body = http_get(chat_server.url + "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'src="/static/socket.io.min.js"' in body

    status, ctype, body = http_get(chat_server.url + "/static/socket.io.min.js")
    assert status == 200 and "javascript" in ctype
    assert body.startswith(b"/*!\n * Socket.IO v4.8.4")

    for asset, kind in (("chat.js", "javascript"), ("chat.css", "text/css")):
        status, ctype, _ = http_get(f"{chat_server.url}/static/{asset}")
        assert status == 200 and kind in ctype, asset


async def test_rejects_bad_requests_in_the_ack(peers: Callable[..., Any]) -> None:
    peer = await peers()
    assert await peer.call("chat message", {"text": "hi"}) == {
        "ok": False,
        "error": "join a room first",
    }
    reply = await peer.call("join", {"nickname": "ann", "room": "no spaces"})
    assert reply["ok"] is False and "room names" in reply["error"]
    reply = await peer.call("join", {"nickname": "   ", "room": "general"})
    assert reply == {"ok": False, "error": "a nickname is required"}
    reply = await peer.call("join", {"nickname": "ann", "room": "general"})
    assert reply["ok"] is True
    assert await peer.call("chat message", {"text": "  "}) == {
        "ok": False,
        "error": "empty message",
    }


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_join_message_ack_and_notices(peers: Callable[..., Any], transport: str) -> None:
    ann, bob = await peers(transport), await peers(transport)
    rooms = await ann.next("rooms")  # sent on connect
    assert {"name": "general", "members": 0} in rooms

    joined = await ann.call("join", {"nickname": "ann", "room": "den"})
    assert joined == {
        "ok": True,
        "room": "den",
        "nickname": "ann",
        "history": [],
        "members": ["ann"],
    }
    joined = await bob.call("join", {"nickname": "bob", "room": "den"})
    assert joined["members"] == ["ann", "bob"]
    notice = await ann.next("notice")
    assert (notice["kind"], notice["nickname"], notice["room"]) == ("join", "bob", "den")
    assert await ann.next("members", lambda m: len(m["members"]) == 2) == {
        "room": "den",
        "members": ["ann", "bob"],
    }
    await bob.next("rooms", lambda rs: {"name": "den", "members": 2} in rs)

    ack = await ann.call("chat message", {"text": "hello"})
    assert ack["ok"] is True and isinstance(ack["id"], int) and isinstance(ack["ts"], float)
    msg = await bob.next("chat message")
    assert msg == {
        "id": ack["id"],
        "room": "den",
        "nickname": "ann",
        "text": "hello",
        "ts": ack["ts"],
    }

    await bob.client.disconnect()
    notice = await ann.next("notice")
    assert (notice["kind"], notice["nickname"]) == ("leave", "bob")
    await ann.next("members", lambda m: m["members"] == ["ann"])
    # The sender is not echoed its own message: only the ack confirms it.
    assert ann.drain("chat message") == []


async def test_typing_reaches_the_room_but_not_the_sender(peers: Callable[..., Any]) -> None:
    ann, bob, cat = await peers(), await peers(), await peers()
    for peer, name, room in ((ann, "ann", "den"), (bob, "bob", "den"), (cat, "cat", "attic")):
        assert (await peer.call("join", {"nickname": name, "room": room}))["ok"]

    await ann.client.emit("typing", True)
    typing = await bob.next("typing")
    assert (typing["nickname"], typing["typing"]) == ("ann", True)
    # A round trip after bob got it: anything sent to ann or cat would have arrived first.
    await ann.call("list rooms")
    await cat.call("list rooms")
    assert ann.drain("typing") == [] and cat.drain("typing") == []

    await ann.client.emit("typing", False)
    assert (await bob.next("typing"))["typing"] is False


async def test_leaving_mid_typing_clears_the_indicator(peers: Callable[..., Any]) -> None:
    ann, bob = await peers(), await peers()
    for peer, name in ((ann, "ann"), (bob, "bob")):
        assert (await peer.call("join", {"nickname": name, "room": "den"}))["ok"]
    await ann.client.emit("typing", True)
    await bob.next("typing", lambda t: t["typing"])
    assert await ann.call("leave") == {"ok": True}
    typing = await bob.next("typing")
    assert (typing["nickname"], typing["typing"]) == ("ann", False)
    assert (await bob.next("notice"))["kind"] == "leave"


async def test_switching_rooms_moves_the_member(peers: Callable[..., Any]) -> None:
    ann, bob = await peers(), await peers()
    assert (await ann.call("join", {"nickname": "ann", "room": "den"}))["ok"]
    assert (await bob.call("join", {"nickname": "bob", "room": "den"}))["ok"]
    reply = await bob.call("join", {"nickname": "bob", "room": "attic"})
    assert reply["ok"] and reply["members"] == ["bob"]
    notice = await ann.next("notice", lambda n: n["kind"] == "leave")
    assert notice["nickname"] == "bob"
    rooms = await ann.next("rooms", lambda rs: {"name": "attic", "members": 1} in rs)
    assert {"name": "den", "members": 1} in rooms
    # bob now talks in the attic: ann must not hear it.
    assert (await bob.call("chat message", {"text": "up here"}))["ok"]
    listed = await ann.call("list rooms")  # a list return value is one ack argument
    assert {"name": "attic", "members": 1} in listed and {"name": "den", "members": 1} in listed
    assert ann.drain("chat message") == []


async def test_late_joiner_gets_the_last_n_messages(
    small_history_peers: Callable[..., Any],
) -> None:
    ann = await small_history_peers()
    assert (await ann.call("join", {"nickname": "ann", "room": "den"}))["ok"]
    ids = []
    for i in range(5):
        ack = await ann.call("chat message", {"text": f"m{i}"})
        assert ack["ok"]
        ids.append(ack["id"])
    assert ids == sorted(ids) and len(set(ids)) == 5

    late = await small_history_peers()
    reply = await late.call("join", {"nickname": "late", "room": "den"})
    assert [m["text"] for m in reply["history"]] == ["m2", "m3", "m4"]
    assert [m["id"] for m in reply["history"]] == ids[2:]
    assert {m["nickname"] for m in reply["history"]} == {"ann"}
