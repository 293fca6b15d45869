"""Multi-room chat: the socketwire demo application.

Run it with ``python examples/chat/app.py [--host 127.0.0.1] [--port 5000]`` and open
http://127.0.0.1:5000/ in two browser windows.

The browser talks to the server with the official ``socket.io-client`` bundle. It is
not vendored: ``npm ci`` in this directory installs the pinned version (see
package.json), and the app serves ``node_modules/socket.io-client/dist/socket.io.min.js``
at ``/static/socket.io.min.js``. If that was not run, the copy installed for the test
suite (``tests/js``, same pinned version) is used instead.

Wire protocol (all events in the default namespace ``/``)

client -> server                                   reply (ack)
  "join"          {"nickname": str, "room": str}   {"ok": true, "room", "nickname",
                                                    "history": [Message], "members": [str]}
  "leave"         (no data)                        {"ok": true}
  "chat message"  {"text": str}                    {"ok": true, "id": int, "ts": float}
  "typing"        bool                             (none)
  "list rooms"    (no data)                        [RoomInfo]
Any request that fails validation is answered with {"ok": false, "error": str}.

server -> client
  "rooms"         [RoomInfo]            to everybody, whenever a room or its size changes
  "notice"        {"room", "kind": "join" | "leave", "nickname", "ts"}   to the room
  "members"       {"room", "members": [str]}                             to the room
  "chat message"  Message                                                to the room, not the sender
  "typing"        {"room", "sid", "nickname", "typing": bool}            to the room, not the sender
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import socketwire

log = logging.getLogger("chat")

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
STATIC_DIR = HERE / "static"
BUNDLE_RELPATH = Path("node_modules/socket.io-client/dist/socket.io.min.js")
# The example's own install wins; tests/js pins the same client version, so falling back
# to it lets the browser test run after the single `npm ci` the test suite needs anyway.
BUNDLE_CANDIDATES = (HERE / BUNDLE_RELPATH, REPO_ROOT / "tests" / "js" / BUNDLE_RELPATH)

DEFAULT_ROOMS = ("general", "random")
# Rooms are created on demand and never forgotten (their history must survive an empty
# room), so their number is capped to keep a public demo's memory bounded.
MAX_ROOMS = 100
MAX_NICKNAME = 24
MAX_TEXT = 2000
ROOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class Message(TypedDict):
    id: int
    room: str
    nickname: str
    text: str
    ts: float


class RoomInfo(TypedDict):
    name: str
    members: int


class ChatError(Exception):
    """A request the client should be told about (sent back in the ack)."""


@dataclass
class Room:
    name: str
    history: deque[Message]
    members: dict[str, str] = field(default_factory=dict)  # sid -> nickname


class ChatState:
    """Everything the chat remembers; lives in this process's memory only.

    Methods here never await, so each one is atomic with respect to other handlers.
    """

    def __init__(self, history_size: int) -> None:
        self.history_size = history_size
        self.rooms: dict[str, Room] = {}
        self._ids = itertools.count(1)
        for name in DEFAULT_ROOMS:
            self.room(name, create=True)

    def room(self, name: str, *, create: bool = False) -> Room:
        room = self.rooms.get(name)
        if room is None:
            if not create:
                raise ChatError(f"no such room: {name}")
            if len(self.rooms) >= MAX_ROOMS:
                raise ChatError("too many rooms")
            room = self.rooms[name] = Room(name, deque(maxlen=self.history_size))
        return room

    def add_message(self, room: Room, nickname: str, text: str) -> Message:
        msg: Message = {
            "id": next(self._ids),
            "room": room.name,
            "nickname": nickname,
            "text": text,
            "ts": time.time(),
        }
        room.history.append(msg)
        return msg

    def room_list(self) -> list[RoomInfo]:
        return [{"name": r.name, "members": len(r.members)} for r in self.rooms.values()]


def clean_nickname(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ChatError("a nickname is required")
    nickname = " ".join(value.split())  # collapse newlines and runs of spaces
    if len(nickname) > MAX_NICKNAME:
        raise ChatError(f"nickname longer than {MAX_NICKNAME} characters")
    return nickname


def clean_room_name(value: Any) -> str:
    if not isinstance(value, str) or not ROOM_NAME.fullmatch(value.strip()):
        raise ChatError("room names are 1-32 letters, digits, '-' or '_'")
    return value.strip()


def clean_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ChatError("empty message")
    if len(value) > MAX_TEXT:
        raise ChatError(f"message longer than {MAX_TEXT} characters")
    return value.strip()


def find_client_bundle() -> Path:
    for candidate in BUNDLE_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise SystemExit(
        "socket.io-client is not installed: run `npm ci` in examples/chat "
        f"(looked for {', '.join(str(c) for c in BUNDLE_CANDIDATES)})"
    )


def create_app(history_size: int = 50) -> socketwire.ASGIApp:
    sio = socketwire.AsyncServer(cors_allowed_origins=None)
    state = ChatState(history_size)
    # Handlers may run concurrently, and a client can fire "join" twice before the first
    # finishes; one lock per connection keeps its session and room membership in step.
    locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def exclusive(sid: str) -> AsyncIterator[None]:
        lock = locks.setdefault(sid, asyncio.Lock())
        async with lock:
            yield

    async def broadcast_rooms() -> None:
        await sio.emit("rooms", state.room_list())

    async def broadcast_members(room: Room) -> None:
        await sio.emit(
            "members", {"room": room.name, "members": sorted(room.members.values())}, room=room.name
        )

    async def leave_current(sid: str, session: dict[str, Any]) -> None:
        """Take ``sid`` out of its room, telling the others; the caller saves the session."""
        name = session.pop("room", None)
        if name is None or name not in state.rooms:
            return
        room = state.rooms[name]
        nickname = room.members.pop(sid, session.get("nickname", "?"))
        await sio.leave_room(sid, name)
        # Someone who leaves mid-sentence would otherwise stay "typing" forever on the
        # other screens: clients only clear the indicator when told.
        await sio.emit(
            "typing", {"room": name, "sid": sid, "nickname": nickname, "typing": False}, room=name
        )
        await sio.emit(
            "notice",
            {"room": name, "kind": "leave", "nickname": nickname, "ts": time.time()},
            room=name,
        )
        await broadcast_members(room)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.save_session(sid, {})
        await sio.emit("rooms", state.room_list(), to=sid)

    @sio.event
    async def disconnect(sid: str, reason: Any) -> None:
        try:
            async with exclusive(sid):
                session = await sio.get_session(sid)
                in_room = "room" in session
                await leave_current(sid, session)
            if in_room:
                await broadcast_rooms()
        finally:
            locks.pop(sid, None)

    @sio.event
    async def join(sid: str, data: Any) -> dict[str, Any]:
        try:
            if not isinstance(data, dict):
                raise ChatError("expected {nickname, room}")
            nickname = clean_nickname(data.get("nickname"))
            name = clean_room_name(data.get("room"))
            async with exclusive(sid):
                session = await sio.get_session(sid)
                room = state.room(name, create=True)
                rejoin = session.get("room") == name
                if not rejoin:
                    await leave_current(sid, session)
                room.members[sid] = nickname
                session.update(nickname=nickname, room=name)
                await sio.save_session(sid, session)
                await sio.enter_room(sid, name)
                # Snapshot only once in the room: every later message then reaches the
                # client live, and the client drops the ones it also got here (by id).
                reply = {
                    "ok": True,
                    "room": name,
                    "nickname": nickname,
                    "history": list(room.history),
                    "members": sorted(room.members.values()),
                }
                if not rejoin:
                    await sio.emit(
                        "notice",
                        {"room": name, "kind": "join", "nickname": nickname, "ts": time.time()},
                        room=name,
                        skip_sid=sid,
                    )
                await broadcast_members(room)
        except ChatError as exc:
            return {"ok": False, "error": str(exc)}
        await broadcast_rooms()
        return reply

    @sio.event
    async def leave(sid: str, data: Any = None) -> dict[str, Any]:
        async with exclusive(sid):
            session = await sio.get_session(sid)
            await leave_current(sid, session)
            await sio.save_session(sid, session)
        await broadcast_rooms()
        return {"ok": True}

    @sio.on("chat message")
    async def chat_message(sid: str, data: Any) -> dict[str, Any]:
        try:
            text = clean_text(data.get("text") if isinstance(data, dict) else data)
            session = await sio.get_session(sid)
            if "room" not in session:
                raise ChatError("join a room first")
            room = state.room(session["room"])
            msg = state.add_message(room, session["nickname"], text)
        except ChatError as exc:
            return {"ok": False, "error": str(exc)}
        # The sender already shows its own message; the ack is its delivery receipt.
        await sio.emit("chat message", msg, room=room.name, skip_sid=sid)
        return {"ok": True, "id": msg["id"], "ts": msg["ts"]}

    @sio.event
    async def typing(sid: str, data: Any) -> None:
        session = await sio.get_session(sid)
        if "room" in session:
            await sio.emit(
                "typing",
                {
                    "room": session["room"],
                    "sid": sid,
                    "nickname": session["nickname"],
                    "typing": bool(data),
                },
                room=session["room"],
                skip_sid=sid,
            )

    @sio.on("list rooms")
    async def list_rooms(sid: str, data: Any = None) -> list[RoomInfo]:
        return state.room_list()

    bundle = find_client_bundle()
    static_files: dict[str, Any] = {
        "/": str(STATIC_DIR / "index.html"),
        "/static": str(STATIC_DIR),
        # Exact paths take precedence over the /static directory mapping.
        "/static/socket.io.min.js": str(bundle),
        "/static/socket.io.min.js.map": str(bundle.with_name(bundle.name + ".map")),
    }
    return socketwire.ASGIApp(sio, static_files=static_files)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="socketwire chat demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--history", type=int, default=50, help="messages kept per room (default: 50)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.history < 0:
        raise SystemExit("--history must be >= 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(history_size=args.history)
    log.info("chat on http://%s:%d/", args.host, args.port)
    sys.stdout.flush()
    socketwire.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
