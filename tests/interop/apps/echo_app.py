"""Interop test server app.

One app that exercises the whole public surface the interop tests need.  It is
launched as a real subprocess (``python -m socketwire run echo_app:sio`` or
``uvicorn echo_app:app``) by ``tests/interop/conftest.py``.

Clients identify themselves with a ``tag`` in their auth payload; every piece
of state the tests query (disconnect reasons, catch-all hits) is keyed by
``(namespace, tag)`` so that tests sharing one server process never collide.

Namespaces:
    ``/``      function-style handlers (``@sio.event`` / ``@sio.on``)
    ``/chat``  class-based handlers (``socketwire.AsyncNamespace``)
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import socketwire

PING_INTERVAL = float(os.environ.get("SW_TEST_PING_INTERVAL", "2"))
PING_TIMEOUT = float(os.environ.get("SW_TEST_PING_TIMEOUT", "4"))

sio = socketwire.AsyncServer(
    cors_allowed_origins="*",
    ping_interval=PING_INTERVAL,
    ping_timeout=PING_TIMEOUT,
    max_http_buffer_size=2_000_000,
)
app = socketwire.ASGIApp(sio)

# (namespace, tag) -> list of disconnect reasons seen by the server
DISCONNECTS: dict[tuple[str, str], list[str]] = {}
_DISCONNECT_EVENTS: dict[tuple[str, str], asyncio.Event] = {}
# (namespace, sid) -> tag; kept by the app itself so that recording a
# disconnect never depends on the session store still being readable
TAGS: dict[tuple[str, str], str] = {}
AUTHS: dict[tuple[str, str], Any] = {}

BIN_ALL = bytes(range(256))


def _event_for(key: tuple[str, str]) -> asyncio.Event:
    ev = _DISCONNECT_EVENTS.get(key)
    if ev is None:
        ev = _DISCONNECT_EVENTS[key] = asyncio.Event()
    return ev


def _record_disconnect(namespace: str, sid: str, reason: Any) -> None:
    tag = TAGS.pop((namespace, sid), None)
    AUTHS.pop((namespace, sid), None)
    if tag is None:
        return
    key = (namespace, tag)
    DISCONNECTS.setdefault(key, []).append(reason)
    _event_for(key).set()


async def _wait_disconnect(namespace: str, tag: str, timeout: float) -> dict[str, Any]:
    key = (namespace, tag)
    try:
        await asyncio.wait_for(_event_for(key).wait(), timeout)
    except asyncio.TimeoutError:
        return {"reasons": DISCONNECTS.get(key, []), "timeout": True}
    return {"reasons": DISCONNECTS.get(key, []), "timeout": False}


def _auth_checks(auth: Any, namespace: str) -> None:
    """Refuse the connection when the auth payload asks for it."""
    if not isinstance(auth, dict):
        return
    refuse = auth.get("refuse")
    if namespace == "/chat" and auth.get("refuse_chat"):
        # lets clients that share one auth payload over several namespaces
        # (python-socketio) be refused on /chat only
        refuse = auth["refuse_chat"]
    if refuse:
        raise socketwire.ConnectionRefusedError(
            refuse, {"code": 4001, "namespace": namespace, "tag": auth.get("tag")}
        )


def _ack_value(res: Any) -> Any:
    """Normalise what ``call``/callbacks return into a JSON-able value."""
    if isinstance(res, tuple):
        return {"multi": list(res)}
    return {"single": res}


# --------------------------------------------------------------------------- /


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any) -> Any:
    _auth_checks(auth, "/")
    if isinstance(auth, dict) and auth.get("reject_false"):
        return False
    tag = auth.get("tag") if isinstance(auth, dict) else None
    if tag is not None:
        TAGS[("/", sid)] = tag
    AUTHS[("/", sid)] = auth
    await sio.save_session(sid, {"tag": tag, "auth": auth, "count": 0})
    if isinstance(auth, dict) and auth.get("welcome"):
        await sio.emit("welcome", {"sid": sid, "tag": tag}, to=sid)
    return None


@sio.on("disconnect")
async def disconnect(sid: str, reason: Any) -> None:
    _record_disconnect("/", sid, reason)


@sio.event
async def whoami(sid: str) -> dict[str, Any]:
    return {
        "sid": sid,
        "namespace": "/",
        "tag": TAGS.get(("/", sid)),
        "auth": AUTHS.get(("/", sid)),
        "rooms": sorted(sio.rooms(sid)),
    }


@sio.event
async def echo(sid: str, *args: Any) -> Any:
    """Ack with exactly the arguments received."""
    return tuple(args)


@sio.event
async def echo_event(sid: str, event: str, *args: Any) -> None:
    """Emit ``event`` back to the sender with the remaining arguments."""
    await sio.emit(event, tuple(args), to=sid)


@sio.event
async def ask_client(sid: str, event: str, *args: Any) -> Any:
    """Use ``sio.call`` to get an ack from the client; report what came back."""
    data = tuple(args) if len(args) != 1 else args[0]
    try:
        res = await sio.call(event, data, to=sid, timeout=10)
    except Exception as exc:  # reported to the client, asserted by the test
        return {"error": type(exc).__name__}
    return _ack_value(res)


@sio.event
async def ask_client_timeout(sid: str, event: str, timeout: float) -> Any:
    """``sio.call`` an event the client never acks: must raise a timeout."""
    try:
        res = await sio.call(event, "no-ack-please", to=sid, timeout=timeout)
    except Exception as exc:
        return {"error": type(exc).__name__}
    return {"unexpected": _ack_value(res)}


@sio.event
async def ask_client_cb(sid: str, event: str, *args: Any) -> Any:
    """Same as ``ask_client`` but with ``emit(..., callback=...)``."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def cb(*ack: Any) -> None:
        if not fut.done():
            fut.set_result(ack)

    data = tuple(args) if len(args) != 1 else args[0]
    await sio.emit(event, data, to=sid, callback=cb)
    try:
        res = await asyncio.wait_for(fut, 10)
    except asyncio.TimeoutError:
        return {"error": "callback never called"}
    return {"multi": list(res)}


@sio.event
async def binary_from_server(sid: str) -> Any:
    """Emit a binary-laden event to the caller and ack the same payload."""
    payload = (BIN_ALL, {"nested": [b"\x00\xff", {"deep": b"abc"}], "n": 1, "empty": b""})
    await sio.emit("bin", payload, to=sid)
    return payload


@sio.event
async def big_binary(sid: str, size: int) -> Any:
    blob = bytes(i % 251 for i in range(size))
    await sio.emit("big", blob, to=sid)
    return len(blob)


@sio.event
async def join(sid: str, room: str) -> Any:
    await sio.enter_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.event
async def leave(sid: str, room: str) -> Any:
    await sio.leave_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.on("close_room")
async def close_room_handler(sid: str, room: str) -> Any:
    await sio.close_room(room)
    return sorted(sio.rooms(sid))


@sio.event
async def broadcast(sid: str, spec: dict[str, Any]) -> Any:
    """spec: {event, data, room (None = everyone), skip_self, namespace}."""
    await sio.emit(
        spec["event"],
        spec.get("data"),
        room=spec.get("room"),
        skip_sid=sid if spec.get("skip_self") else None,
        namespace=spec.get("namespace") or "/",
    )
    return True


@sio.event
async def fence(sid: str, spec: dict[str, Any]) -> Any:
    """Emit a 'fence' marker to every listed sid.

    Packets to one client are delivered in order, so once a client has seen
    its fence it has seen everything emitted to it before the fence; this is
    how tests prove a client did *not* receive a broadcast without sleeping.
    """
    for other in spec["sids"]:
        await sio.emit("fence", spec.get("token"), to=other, namespace=spec.get("namespace") or "/")
    return True


@sio.event
async def disconnect_me(sid: str, namespace: str | None = None) -> None:
    await sio.disconnect(sid, namespace=namespace or "/")


@sio.event
async def wait_disconnect(sid: str, spec: dict[str, Any]) -> Any:
    return await _wait_disconnect(
        spec.get("namespace") or "/", spec["tag"], spec.get("timeout", 10)
    )


@sio.on("get_session")
async def get_session_handler(sid: str) -> Any:
    sess = await sio.get_session(sid)
    return {"tag": sess.get("tag"), "count": sess.get("count")}


@sio.event
async def session_incr(sid: str) -> Any:
    async with sio.session(sid) as sess:
        sess["count"] = sess.get("count", 0) + 1
    sess = await sio.get_session(sid)
    return sess["count"]


@sio.on("message")
async def message(sid: str, data: Any) -> None:
    await sio.send({"echo": data}, to=sid)


@sio.on("*")
async def catch_all(event: str, sid: str, *args: Any) -> Any:
    return ("caught", event, *args)


# ----------------------------------------------------------------------- /chat


class ChatNamespace(socketwire.AsyncNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> Any:
        _auth_checks(auth, "/chat")
        tag = auth.get("tag") if isinstance(auth, dict) else None
        if tag is not None:
            TAGS[("/chat", sid)] = tag
        AUTHS[("/chat", sid)] = auth
        return None

    async def on_disconnect(self, sid: str, reason: Any) -> None:
        _record_disconnect("/chat", sid, reason)

    async def on_whoami(self, sid: str) -> Any:
        return {
            "sid": sid,
            "namespace": "/chat",
            "tag": TAGS.get(("/chat", sid)),
            "auth": AUTHS.get(("/chat", sid)),
            "rooms": sorted(sio.rooms(sid, namespace="/chat")),
        }

    async def on_echo(self, sid: str, *args: Any) -> Any:
        return ("chat", *args)

    async def on_join(self, sid: str, room: str) -> Any:
        await sio.enter_room(sid, room, namespace="/chat")
        return sorted(sio.rooms(sid, namespace="/chat"))

    async def on_chat_broadcast(self, sid: str, spec: dict[str, Any]) -> Any:
        await sio.emit(
            "chat_msg",
            spec.get("data"),
            room=spec.get("room"),
            skip_sid=sid if spec.get("skip_self") else None,
            namespace="/chat",
        )
        return True

    async def on_fence(self, sid: str, spec: dict[str, Any]) -> Any:
        for other in spec["sids"]:
            await sio.emit("fence", spec.get("token"), to=other, namespace="/chat")
        return True

    async def on_disconnect_me(self, sid: str) -> None:
        await sio.disconnect(sid, namespace="/chat")


sio.register_namespace(ChatNamespace("/chat"))
