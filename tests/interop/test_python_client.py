"""python-socketio's AsyncClient (5.x, aiohttp) against socketwire.

Same matrix as the JS tests: polling only / websocket only / default
(polling, then upgrade), against the test app in every serving mode of
conftest.MODES (asyncio: native, uvicorn; threaded: native, gunicorn gthread,
Werkzeug, gevent.pywsgi, gunicorn gevent).  Every wait is bounded with
asyncio.wait_for.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio

from .conftest import ServerProcess, heavy_modes
from .helpers import PING_INTERVAL_MS, PING_TIMEOUT_MS, expected_transport

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(90),
    # aiohttp objects leaked by python-engineio's client itself (e.g. after a
    # refused connection) are not the server's fault
    pytest.mark.filterwarnings("ignore:Unclosed connection:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:Unclosed client session:ResourceWarning"),
]

TRANSPORTS = ("polling", "websocket", "upgrade")
WAIT = 5.0
HERE = Path(__file__).resolve().parent


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Peer:
    """A python-socketio AsyncClient that records everything it receives."""

    def __init__(self, url: str, transport: str, namespaces: tuple[str, ...] = ("/",)) -> None:
        self.url = url
        self.transport_mode = transport
        self.namespaces = list(namespaces)
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[list[Any]]] = defaultdict(list)
        self.disconnects: dict[str, list[Any]] = defaultdict(list)
        self.connect_errors: dict[str, list[Any]] = defaultdict(list)
        self.connects: dict[str, int] = defaultdict(int)
        self._consumed: dict[tuple[str, str], int] = defaultdict(int)
        self._changed = asyncio.Event()
        for ns in self.namespaces:
            self._install(ns)

    def _install(self, ns: str) -> None:
        c = self.client

        async def on_any(event: str, *args: Any) -> None:
            self.events[ns].append([event, *args])
            self._changed.set()

        def on_connect() -> None:
            self.connects[ns] += 1
            self._changed.set()

        def on_disconnect(reason: Any = None) -> None:
            self.disconnects[ns].append(reason)
            self._changed.set()

        def on_connect_error(data: Any = None) -> None:
            self.connect_errors[ns].append(data)
            self._changed.set()

        c.on("*", on_any, namespace=ns)
        c.on("connect", on_connect, namespace=ns)
        c.on("disconnect", on_disconnect, namespace=ns)
        c.on("connect_error", on_connect_error, namespace=ns)

    def on(self, event: str, handler: Callable[..., Any], ns: str = "/") -> None:
        self.client.on(event, handler, namespace=ns)

    async def connect(self, auth: Any = None, wait: bool = True) -> None:
        transports = None if self.transport_mode == "upgrade" else [self.transport_mode]
        await asyncio.wait_for(
            self.client.connect(
                self.url,
                auth=auth,
                transports=transports,
                namespaces=self.namespaces,
                wait=wait,
                wait_timeout=WAIT,
            ),
            WAIT * 2,
        )

    async def until(self, pred: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            v = pred()
            if v:
                return v
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def next_event(self, event: str, ns: str = "/", timeout: float = WAIT) -> list[Any]:
        """Arguments of the next not-yet-consumed occurrence of ``event``."""
        key = (ns, event)

        def find() -> list[Any] | None:
            seen = 0
            for e in self.events[ns]:
                if e[0] == event:
                    if seen == self._consumed[key]:
                        return e[1:]
                    seen += 1
            return None

        args = await self.until(
            lambda: find() is not None and [find()], f"event {event!r} on {ns}", timeout
        )
        self._consumed[key] += 1
        return list(args[0])

    async def ack(self, event: str, *args: Any, ns: str = "/", timeout: float = WAIT) -> list[Any]:
        """Emit with a callback; return ALL ack arguments as a list."""
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def cb(*res: Any) -> None:
            if not fut.done():
                fut.set_result(list(res))

        await self.client.emit(event, tuple(args), namespace=ns, callback=cb)
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no ack for {event!r} on {ns} within {timeout}s") from None

    async def disconnect_and_wait(self, ns: str = "/") -> Any:
        n = len(self.disconnects[ns])
        # python-engineio's write loop exits as soon as it sees the client is
        # no longer 'connected': if disconnect() runs while a POST is still
        # in flight (an ack can arrive on the long-poll before the response
        # to the POST that caused it -- routine with threaded servers, whose
        # handlers run concurrently with the request), the queued DISCONNECT
        # and CLOSE packets are silently dropped and the server can only see
        # a ping timeout.  Let the client finish its pending writes first.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.client.eio.queue.join(), WAIT)
        # python-engineio's polling client waits for its pending long-poll to
        # return; a server that does not answer it on close makes this slow
        # (up to ping_interval), hence the longer bound
        await asyncio.wait_for(self.client.disconnect(), 15)
        await self.until(lambda: len(self.disconnects[ns]) > n, f"disconnect on {ns}")
        return self.disconnects[ns][n]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.shutdown(), WAIT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.eio.disconnect(abort=True), WAIT)


@pytest.fixture
async def peers(server: ServerProcess, transport: str) -> AsyncIterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def make(namespaces: tuple[str, ...] = ("/",), mode: str | None = None) -> Peer:
        p = Peer(server.url, mode or transport, namespaces)
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()
    made.clear()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unclosed", ResourceWarning)
        gc.collect()


async def server_view(
    make: Callable[..., Peer], tag: str, ns: str = "/", timeout: float = 10
) -> Any:
    """How the server saw ``tag``'s disconnect on ``ns`` (via a probe client)."""
    probe = make(mode="websocket")
    await probe.connect(auth={"tag": "probe-" + tag})
    [res] = await probe.ack(
        "wait_disconnect", {"tag": tag, "namespace": ns, "timeout": timeout}, timeout=timeout + 5
    )
    await probe.disconnect_and_wait()
    return res


async def settled_transport(p: Peer) -> str:
    # python-engineio upgrades synchronously inside connect()
    return str(p.client.transport())


def assert_client_disconnect_seen(view: Any, transport: str) -> None:
    """Server-side reason after python-socketio's ``client.disconnect()``.

    Over polling the client's DISCONNECT/CLOSE packets are POSTed before it
    stops, so the server must report 'client disconnect'.  Over websocket,
    python-engineio's ``disconnect()`` closes the WebSocket before its write
    loop flushes the queued DISCONNECT ("41") and CLOSE ("1") packets (they
    are written after the close frame, so the server never gets them); a
    server that then reports 'transport close' is right.
    """
    assert view["timeout"] is False, view
    if expected_transport(transport) == "polling":
        assert view["reasons"] == ["client disconnect"]
    else:
        assert view["reasons"] in (["client disconnect"], ["transport close"])


# --------------------------------------------------------------------- tests


async def test_connect_with_auth(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers()
    auth = {
        "tag": tag,
        "token": "s3cr3t",
        "nested": {"list": [1, 2, "three"], "ok": True},
        "welcome": True,
    }
    await p.connect(auth=auth)
    assert p.client.connected
    assert await settled_transport(p) == expected_transport(transport)
    welcome = await p.next_event("welcome")
    [who] = await p.ack("whoami")
    sid = p.client.get_sid("/")
    assert who["sid"] == sid
    assert who["sid"] != p.client.eio.sid, "namespace sid must differ from the Engine.IO sid"
    assert who["namespace"] == "/"
    assert who["auth"] == auth
    assert who["tag"] == tag
    assert sid in who["rooms"]
    assert welcome == [{"sid": sid, "tag": tag}]
    assert await p.ack("get_session") == [{"tag": tag, "count": 0}]
    assert await p.ack("session_incr") == [1]
    assert await p.ack("session_incr") == [2]
    assert await p.ack("get_session") == [{"tag": tag, "count": 2}]
    eio = p.client.eio
    assert (eio.ping_interval, eio.ping_timeout) == (
        PING_INTERVAL_MS / 1000,
        PING_TIMEOUT_MS / 1000,
    )
    assert p.connects["/"] == 1
    assert await p.disconnect_and_wait() == "client disconnect"
    assert_client_disconnect_seen(await server_view(peers, tag), transport)


async def test_connect_refused_with_data(
    peers: Callable[..., Peer], transport: str, tag: str
) -> None:
    p = peers()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await p.connect(auth={"tag": tag + "-r1", "refuse": "go away"})
    assert p.connect_errors["/"] == [
        {"message": "go away", "data": {"code": 4001, "namespace": "/", "tag": tag + "-r1"}}
    ]
    assert not p.client.connected

    p2 = peers()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await p2.connect(auth={"tag": tag + "-r2", "reject_false": True})
    [err] = p2.connect_errors["/"]
    assert isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"]

    # '/' accepted while '/chat' is refused on the same Engine.IO connection
    p3 = peers(namespaces=("/", "/chat"))
    await p3.connect(auth={"tag": tag, "refuse_chat": "chat closed"}, wait=False)
    await p3.until(lambda: p3.connects["/"] == 1, "connect on /")
    await p3.until(lambda: p3.connect_errors["/chat"], "connect_error on /chat")
    assert p3.connect_errors["/chat"] == [
        {"message": "chat closed", "data": {"code": 4001, "namespace": "/chat", "tag": tag}}
    ]
    assert p3.connects["/chat"] == 0
    assert await p3.ack("echo", "still", "here") == ["still", "here"]
    assert await settled_transport(p3) == expected_transport(transport)

    p4 = peers()
    await p4.connect(auth={"tag": tag + "-ok"})
    assert p4.client.connected


async def test_events_both_ways(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers()
    await p.connect(auth={"tag": tag})
    payload = [
        "hello",
        42,
        3.5,
        True,
        None,
        {"a": [1, None, False], "u": "h\u00e9llo \u2713 \U0001f680"},
        [[], {}],
    ]
    await p.client.emit("echo_event", ("server_says", *payload))
    assert await p.next_event("server_says") == payload
    await p.client.send("plain message \u00fc")
    assert await p.next_event("message") == [{"echo": "plain message \u00fc"}]
    assert await p.ack("no_such_handler", {"x": 1}, "y") == [
        "caught",
        "no_such_handler",
        {"x": 1},
        "y",
    ]
    assert await settled_transport(p) == expected_transport(transport)


# Engine.IO does not limit the number of packets in a polling payload, but
# python-engineio's client decodes at most 16 per payload; the server splits longer
# queues across polls (engineio/core.py, MAX_POLL_PACKETS).


async def test_event_burst(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    """100 events fired back to back arrive complete and in order."""
    p = peers()
    await p.connect(auth={"tag": tag})
    n = 100
    for i in range(n):
        await p.client.emit("echo_event", ("burst", i))
    await p.until(
        lambda: p.disconnects["/"] or sum(1 for e in p.events["/"] if e[0] == "burst") >= n,
        f"{n} burst events",
        15,
    )
    assert p.disconnects["/"] == [], "connection dropped during the burst"
    assert [e[1] for e in p.events["/"] if e[0] == "burst"] == list(range(n))
    assert p.disconnects["/"] == []
    assert await settled_transport(p) == expected_transport(transport)


async def test_acks_both_ways(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers()
    p.on("question", lambda *args: {"got": list(args), "from": "py"})
    p.on("question_multi", lambda *args: (1, "two", {"three": 3}, list(args)))
    p.on("question_empty", lambda *args: None)

    await p.connect(auth={"tag": tag})
    assert await p.ack("echo") == []
    assert await p.ack("echo", {"a": 1}) == [{"a": 1}]
    assert await p.ack("echo", "x", 2, [3], {"four": 4}) == ["x", 2, [3], {"four": 4}]
    # the high-level client API too
    assert await p.client.call("echo", "c", timeout=WAIT) == "c"
    assert await p.client.call("echo", ("c", 1), timeout=WAIT) == ("c", 1)
    # server -> client via sio.call
    assert await p.ack("ask_client", "question", {"q": "life"}) == [
        {"single": {"got": [{"q": "life"}], "from": "py"}}
    ]
    assert await p.ack("ask_client", "question_multi", "m") == [
        {"multi": [1, "two", {"three": 3}, ["m"]]}
    ]
    assert await p.ack("ask_client", "question_empty", "e") == [{"single": None}]
    # server -> client via emit(callback=...)
    assert await p.ack("ask_client_cb", "question_multi", "cb") == [
        {"multi": [1, "two", {"three": 3}, ["cb"]]}
    ]
    # python-socketio acks every event that asks for one, so a "client that
    # never acks" is one whose handler outlives the server's call timeout
    release = asyncio.Event()

    async def slow(*args: Any) -> str:
        await asyncio.wait_for(release.wait(), 10)
        return "too late"

    p.on("ignored", slow)
    [res] = await p.ack("ask_client_timeout", "ignored", 1, timeout=WAIT + 2)
    release.set()
    assert "Timeout" in res.get("error", ""), res
    # the late ack must not break the connection
    assert await p.ack("echo", "after late ack") == ["after late ack"]
    assert await settled_transport(p) == expected_transport(transport)


async def test_binary_both_ways(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers()
    p.on("give_bytes", lambda *args: (b"\x09\x08\x07", {"b": b"\x06"}))
    await p.connect(auth={"tag": tag})
    small = bytes([0, 1, 2, 253, 254, 255])
    nested = {"nested": [b"\x00\xff", {"deep": b"abc"}], "n": 7, "empty": b""}
    assert await p.ack("echo", small, nested, "text") == [small, nested, "text"]
    expected = [
        bytes(range(256)),
        {"nested": [b"\x00\xff", {"deep": b"abc"}], "n": 1, "empty": b""},
    ]
    assert await p.ack("binary_from_server") == expected
    assert await p.next_event("bin") == expected
    assert await p.ack("ask_client", "give_bytes", "please") == [
        {"multi": [b"\x09\x08\x07", {"b": b"\x06"}]}
    ]
    size = 300_000
    big = bytes((i * 7) % 256 for i in range(size))
    [back] = await p.ack("echo", big, timeout=15)
    assert isinstance(back, bytes) and back == big
    assert await p.ack("big_binary", size, timeout=15) == [size]
    [blob] = await p.next_event("big", timeout=15)
    assert blob == bytes(i % 251 for i in range(size))
    assert await settled_transport(p) == expected_transport(transport)


async def test_namespaces(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers(namespaces=("/", "/chat"))
    await p.connect(auth={"tag": tag})
    root_sid, chat_sid = p.client.get_sid("/"), p.client.get_sid("/chat")
    assert root_sid and chat_sid and root_sid != chat_sid
    [rw] = await p.ack("whoami")
    [cw] = await p.ack("whoami", ns="/chat")
    assert (rw["namespace"], rw["sid"]) == ("/", root_sid)
    assert (cw["namespace"], cw["sid"]) == ("/chat", chat_sid)
    assert cw["auth"] == {"tag": tag}
    assert await p.ack("echo", "r") == ["r"]
    assert await p.ack("echo", "c", b"\x01\x02", ns="/chat") == ["chat", "c", b"\x01\x02"]
    await p.ack("chat_broadcast", {"data": {"hi": "chat"}}, ns="/chat")
    await p.ack("fence", {"sids": [chat_sid], "token": "chat-fence"}, ns="/chat")
    await p.ack("fence", {"sids": [root_sid], "token": "root-fence"})
    await p.next_event("fence", ns="/chat")
    await p.next_event("fence", ns="/")
    assert p.events["/chat"] == [["chat_msg", {"hi": "chat"}], ["fence", "chat-fence"]]
    assert p.events["/"] == [["fence", "root-fence"]], "no /chat traffic on /"
    # server disconnects /chat only
    await p.client.emit("disconnect_me", namespace="/chat")
    await p.until(lambda: p.disconnects["/chat"], "disconnect of /chat")
    assert p.disconnects["/chat"] == ["server disconnect"]
    assert await server_view(peers, tag, "/chat") == {
        "reasons": ["server disconnect"],
        "timeout": False,
    }
    assert p.client.connected
    assert await p.ack("echo", "alive") == ["alive"]
    assert await settled_transport(p) == expected_transport(transport)
    assert await p.disconnect_and_wait() == "client disconnect"
    assert_client_disconnect_seen(await server_view(peers, tag, "/"), transport)


async def test_rooms_and_broadcast(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    room = "room-" + tag
    names = ("A", "B", "C")
    ps = {n: peers() for n in names}
    await asyncio.gather(*(ps[n].connect(auth={"tag": f"{tag}-{n}"}) for n in names))
    sids = {n: ps[n].client.get_sid("/") for n in names}
    marks = dict.fromkeys(names, 0)
    fence_no = 0

    async def fenced(sender: str) -> dict[str, list[Any]]:
        """'news' payloads each peer got since the previous fence."""
        nonlocal fence_no
        fence_no += 1
        token = f"fence-{fence_no}"
        await ps[sender].ack("fence", {"sids": list(sids.values()), "token": token})
        out = {}
        for n in names:
            evs = ps[n].events["/"]
            await ps[n].until(lambda evs=evs: ["fence", token] in evs, f"{token} at {n}")
            idx = evs.index(["fence", token])
            out[n] = [e[1] for e in evs[marks[n] : idx] if e[0] == "news"]
            marks[n] = idx + 1
        return out

    [ja] = await ps["A"].ack("join", room)
    [jb] = await ps["B"].ack("join", room)
    assert room in ja and sids["A"] in ja
    assert room in jb and sids["B"] in jb
    await ps["A"].ack(
        "broadcast", {"event": "news", "data": "room-skip-self", "room": room, "skip_self": True}
    )
    assert await fenced("A") == {"A": [], "B": ["room-skip-self"], "C": []}
    await ps["A"].ack(
        "broadcast", {"event": "news", "data": "room-all", "room": room, "skip_self": False}
    )
    assert await fenced("A") == {"A": ["room-all"], "B": ["room-all"], "C": []}
    await ps["C"].ack(
        "broadcast", {"event": "news", "data": "everyone-but-C", "room": None, "skip_self": True}
    )
    assert await fenced("C") == {"A": ["everyone-but-C"], "B": ["everyone-but-C"], "C": []}
    [lb] = await ps["B"].ack("leave", room)
    assert room not in lb and sids["B"] in lb
    await ps["A"].ack(
        "broadcast", {"event": "news", "data": "after-leave", "room": room, "skip_self": False}
    )
    assert await fenced("A") == {"A": ["after-leave"], "B": [], "C": []}
    await ps["A"].ack(
        "broadcast", {"event": "news", "data": "to-C-sid", "room": sids["C"], "skip_self": False}
    )
    assert await fenced("A") == {"A": [], "B": [], "C": ["to-C-sid"]}
    [ca] = await ps["A"].ack("close_room", room)
    assert room not in ca
    await ps["A"].ack(
        "broadcast", {"event": "news", "data": "after-close", "room": room, "skip_self": False}
    )
    assert await fenced("A") == {"A": [], "B": [], "C": []}
    assert await settled_transport(ps["A"]) == expected_transport(transport)


async def test_server_disconnect(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers()
    await p.connect(auth={"tag": tag})
    assert await settled_transport(p) == expected_transport(transport)
    await p.client.emit("disconnect_me")
    await p.until(lambda: p.disconnects["/"], "server-initiated disconnect")
    assert p.disconnects["/"] == ["server disconnect"]
    await p.until(lambda: not p.client.connected, "client.connected to drop")
    assert await server_view(peers, tag) == {"reasons": ["server disconnect"], "timeout": False}


async def test_client_disconnect(peers: Callable[..., Peer], transport: str, tag: str) -> None:
    p = peers()
    await p.connect(auth={"tag": tag})
    assert await settled_transport(p) == expected_transport(transport)
    [who] = await p.ack("whoami")
    assert who["tag"] == tag
    assert await p.disconnect_and_wait() == "client disconnect"
    assert_client_disconnect_seen(await server_view(peers, tag), transport)


@heavy_modes(TRANSPORTS)
async def test_client_vanishes(
    server: ServerProcess, peers: Callable[..., Peer], transport: str, tag: str
) -> None:
    """A python-socketio client process is SIGKILLed: the server must notice."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "py_vanish_client.py"),
        server.url,
        tag,
        transport,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.decode().split() == ["READY", expected_transport(transport), tag], (
            line,
            (await proc.stderr.read()).decode() if proc.stderr and not line else "",
        )
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    view = await server_view(peers, tag, timeout=15)
    assert view["timeout"] is False, "server never noticed the client was gone"
    assert len(view["reasons"]) == 1
    if expected_transport(transport) == "websocket":
        assert view["reasons"] == ["transport close"]
    else:
        assert view["reasons"][0] in ("ping timeout", "transport close")


@heavy_modes(TRANSPORTS)
async def test_heartbeat_keeps_connection(
    peers: Callable[..., Peer], transport: str, tag: str
) -> None:
    """Stay connected across several server ping cycles (2s interval)."""
    p = peers()
    await p.connect(auth={"tag": tag})
    eio = p.client.eio
    # count pings the engine.io client answers by watching its send queue
    pongs = 0
    orig = eio._send_packet

    async def spy(pkt: Any) -> None:
        nonlocal pongs
        if pkt.packet_type == 3:  # PONG
            pongs += 1
            p._changed.set()
        await orig(pkt)

    eio._send_packet = spy
    await p.until(
        lambda: pongs >= 2, "two ping/pong cycles", timeout=3 * PING_INTERVAL_MS / 1000 + 4
    )
    assert p.client.connected
    assert p.disconnects["/"] == []
    assert await p.ack("echo", "after-pings") == ["after-pings"]
    assert await settled_transport(p) == expected_transport(transport)
