"""Interop test server app, threaded twin of ``echo_app.py``.

The same events with the same behaviour, on ``socketwire.Server`` (plain
functions run on the server's worker pool) and ``socketwire.WSGIApp``.  It is
launched as a real subprocess by ``tests/interop/conftest.py`` in the threaded
serving modes: ``python -m socketwire run echo_app_sync:sio`` (native), gunicorn
``-k gthread`` / ``-k gevent`` (``echo_app_sync:app``), Werkzeug and
gevent.pywsgi (via ``serve_sync.py``).

Blocking waits that ``echo_app.py`` does with asyncio are bounded
``threading.Event`` waits here (green under gevent's monkey patching).

``SW_TEST_ASYNC_MODE`` picks the server's ``async_mode`` (``threading`` by
default; ``gevent`` for the gevent modes, where the process is monkey patched
before this module is imported).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import socketwire

PING_INTERVAL = float(os.environ.get("SW_TEST_PING_INTERVAL", "2"))
PING_TIMEOUT = float(os.environ.get("SW_TEST_PING_TIMEOUT", "4"))
ASYNC_MODE = os.environ.get("SW_TEST_ASYNC_MODE") or None

# async_handlers=False: socketwire.Server runs each client's events one after
# another in arrival order (its connect/events/disconnect share a per-client
# queue on the worker pool).  With the default True a client's events run
# concurrently on the pool, as in python-socketio's threaded Server, so e.g. a
# burst of ``echo_event``s may be echoed out of order; the asyncio app gets
# arrival order from the event loop's FIFO task start.  Handlers that block
# (``sio.call``, ``wait_disconnect``) only hold up their own client: acks from
# the client are not queued behind them.
sio = socketwire.Server(
    async_handlers=False,
    cors_allowed_origins="*",
    ping_interval=PING_INTERVAL,
    ping_timeout=PING_TIMEOUT,
    max_http_buffer_size=2_000_000,
    async_mode=ASYNC_MODE,
)
app = socketwire.WSGIApp(sio)

# handlers run concurrently on worker threads: guard the shared tables
_LOCK = threading.Lock()
# (namespace, tag) -> list of disconnect reasons seen by the server
DISCONNECTS: dict[tuple[str, str], list[str]] = {}
_DISCONNECT_EVENTS: dict[tuple[str, str], threading.Event] = {}
# (namespace, sid) -> tag; kept by the app itself so that recording a
# disconnect never depends on the session store still being readable
TAGS: dict[tuple[str, str], str] = {}
AUTHS: dict[tuple[str, str], Any] = {}

BIN_ALL = bytes(range(256))


def _event_for(key: tuple[str, str]) -> threading.Event:
    with _LOCK:
        ev = _DISCONNECT_EVENTS.get(key)
        if ev is None:
            ev = _DISCONNECT_EVENTS[key] = threading.Event()
        return ev


def _record_disconnect(namespace: str, sid: str, reason: Any) -> None:
    with _LOCK:
        tag = TAGS.pop((namespace, sid), None)
        AUTHS.pop((namespace, sid), None)
        if tag is None:
            return
        key = (namespace, tag)
        DISCONNECTS.setdefault(key, []).append(reason)
    _event_for(key).set()


def _reasons(key: tuple[str, str]) -> list[str]:
    with _LOCK:
        return list(DISCONNECTS.get(key, []))


def _wait_disconnect(namespace: str, tag: str, timeout: float) -> dict[str, Any]:
    key = (namespace, tag)
    if not _event_for(key).wait(timeout):
        return {"reasons": _reasons(key), "timeout": True}
    return {"reasons": _reasons(key), "timeout": False}


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
def connect(sid: str, environ: dict[str, Any], auth: Any) -> Any:
    _auth_checks(auth, "/")
    if isinstance(auth, dict) and auth.get("reject_false"):
        return False
    tag = auth.get("tag") if isinstance(auth, dict) else None
    with _LOCK:
        if tag is not None:
            TAGS[("/", sid)] = tag
        AUTHS[("/", sid)] = auth
    sio.save_session(sid, {"tag": tag, "auth": auth, "count": 0})
    if isinstance(auth, dict) and auth.get("welcome"):
        sio.emit("welcome", {"sid": sid, "tag": tag}, to=sid)
    return None


@sio.on("disconnect")
def disconnect(sid: str, reason: Any) -> None:
    _record_disconnect("/", sid, reason)


def _whoami(sid: str, namespace: str) -> dict[str, Any]:
    with _LOCK:
        tag, auth = TAGS.get((namespace, sid)), AUTHS.get((namespace, sid))
    return {
        "sid": sid,
        "namespace": namespace,
        "tag": tag,
        "auth": auth,
        "rooms": sorted(sio.rooms(sid, namespace=namespace)),
    }


@sio.event
def whoami(sid: str) -> dict[str, Any]:
    return _whoami(sid, "/")


@sio.event
def echo(sid: str, *args: Any) -> Any:
    """Ack with exactly the arguments received."""
    return tuple(args)


@sio.event
def echo_event(sid: str, event: str, *args: Any) -> None:
    """Emit ``event`` back to the sender with the remaining arguments."""
    sio.emit(event, tuple(args), to=sid)


@sio.event
def ask_client(sid: str, event: str, *args: Any) -> Any:
    """Use ``sio.call`` to get an ack from the client; report what came back."""
    data = tuple(args) if len(args) != 1 else args[0]
    try:
        res = sio.call(event, data, to=sid, timeout=10)
    except Exception as exc:  # reported to the client, asserted by the test
        return {"error": type(exc).__name__}
    return _ack_value(res)


@sio.event
def ask_client_timeout(sid: str, event: str, timeout: float) -> Any:
    """``sio.call`` an event the client never acks: must raise a timeout."""
    try:
        res = sio.call(event, "no-ack-please", to=sid, timeout=timeout)
    except Exception as exc:
        return {"error": type(exc).__name__}
    return {"unexpected": _ack_value(res)}


@sio.event
def ask_client_cb(sid: str, event: str, *args: Any) -> Any:
    """Same as ``ask_client`` but with ``emit(..., callback=...)``."""
    done = threading.Event()
    got: list[tuple[Any, ...]] = []

    def cb(*ack: Any) -> None:
        if not done.is_set():
            got.append(ack)
            done.set()

    data = tuple(args) if len(args) != 1 else args[0]
    sio.emit(event, data, to=sid, callback=cb)
    if not done.wait(10):
        return {"error": "callback never called"}
    return {"multi": list(got[0])}


@sio.event
def binary_from_server(sid: str) -> Any:
    """Emit a binary-laden event to the caller and ack the same payload."""
    payload = (BIN_ALL, {"nested": [b"\x00\xff", {"deep": b"abc"}], "n": 1, "empty": b""})
    sio.emit("bin", payload, to=sid)
    return payload


@sio.event
def big_binary(sid: str, size: int) -> Any:
    blob = bytes(i % 251 for i in range(size))
    sio.emit("big", blob, to=sid)
    return len(blob)


@sio.event
def join(sid: str, room: str) -> Any:
    sio.enter_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.event
def leave(sid: str, room: str) -> Any:
    sio.leave_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.on("close_room")
def close_room_handler(sid: str, room: str) -> Any:
    sio.close_room(room)
    return sorted(sio.rooms(sid))


@sio.event
def broadcast(sid: str, spec: dict[str, Any]) -> Any:
    """spec: {event, data, room (None = everyone), skip_self, namespace}."""
    sio.emit(
        spec["event"],
        spec.get("data"),
        room=spec.get("room"),
        skip_sid=sid if spec.get("skip_self") else None,
        namespace=spec.get("namespace") or "/",
    )
    return True


@sio.event
def fence(sid: str, spec: dict[str, Any]) -> Any:
    """Emit a 'fence' marker to every listed sid.

    Packets to one client are delivered in order, so once a client has seen
    its fence it has seen everything emitted to it before the fence; this is
    how tests prove a client did *not* receive a broadcast without sleeping.
    """
    for other in spec["sids"]:
        sio.emit("fence", spec.get("token"), to=other, namespace=spec.get("namespace") or "/")
    return True


@sio.event
def disconnect_me(sid: str, namespace: str | None = None) -> None:
    sio.disconnect(sid, namespace=namespace or "/")


@sio.event
def wait_disconnect(sid: str, spec: dict[str, Any]) -> Any:
    return _wait_disconnect(spec.get("namespace") or "/", spec["tag"], spec.get("timeout", 10))


@sio.on("get_session")
def get_session_handler(sid: str) -> Any:
    sess = sio.get_session(sid)
    return {"tag": sess.get("tag"), "count": sess.get("count")}


@sio.event
def session_incr(sid: str) -> Any:
    with sio.session(sid) as sess:
        sess["count"] = sess.get("count", 0) + 1
    sess = sio.get_session(sid)
    return sess["count"]


@sio.on("message")
def message(sid: str, data: Any) -> None:
    sio.send({"echo": data}, to=sid)


@sio.on("*")
def catch_all(event: str, sid: str, *args: Any) -> Any:
    return ("caught", event, *args)


# ----------------------------------------------------------------------- /chat


class ChatNamespace(socketwire.Namespace):
    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> Any:
        _auth_checks(auth, "/chat")
        tag = auth.get("tag") if isinstance(auth, dict) else None
        with _LOCK:
            if tag is not None:
                TAGS[("/chat", sid)] = tag
            AUTHS[("/chat", sid)] = auth
        return None

    def on_disconnect(self, sid: str, reason: Any) -> None:
        _record_disconnect("/chat", sid, reason)

    def on_whoami(self, sid: str) -> Any:
        return _whoami(sid, "/chat")

    def on_echo(self, sid: str, *args: Any) -> Any:
        return ("chat", *args)

    def on_join(self, sid: str, room: str) -> Any:
        sio.enter_room(sid, room, namespace="/chat")
        return sorted(sio.rooms(sid, namespace="/chat"))

    def on_chat_broadcast(self, sid: str, spec: dict[str, Any]) -> Any:
        sio.emit(
            "chat_msg",
            spec.get("data"),
            room=spec.get("room"),
            skip_sid=sid if spec.get("skip_self") else None,
            namespace="/chat",
        )
        return True

    def on_fence(self, sid: str, spec: dict[str, Any]) -> Any:
        for other in spec["sids"]:
            sio.emit("fence", spec.get("token"), to=other, namespace="/chat")
        return True

    def on_disconnect_me(self, sid: str) -> None:
        sio.disconnect(sid, namespace="/chat")


sio.register_namespace(ChatNamespace("/chat"))
