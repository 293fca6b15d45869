"""``socketwire.get_tornado_handler(sio)`` (python-socketio's ``async_mode='tornado'``): a real
Tornado server on loopback serving the handler, driven by python-socketio's client and the
official JS client over polling, WebSocket and the upgrade, and by raw HTTP / WebSocket
requests for what a client library never sends."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import engineio
import pytest
import socketio
import tornado.httpserver
import tornado.netutil
import tornado.web

import socketwire

HOST = "127.0.0.1"
LIMIT = 10_000
JS_DIR = Path(__file__).resolve().parent.parent / "js"


@dataclass
class Served:
    sio: socketwire.AsyncServer
    url: str
    #: sid -> the disconnect reason the server saw
    reasons: dict[str, str] = field(default_factory=dict)
    gone: dict[str, asyncio.Event] = field(default_factory=dict)

    def left(self, sid: str) -> asyncio.Event:
        return self.gone.setdefault(sid, asyncio.Event())


class Page(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("tornado page")


async def start(sio: Any, path: str = r"/socket.io/", **settings: Any) -> tuple[Any, str]:
    """A Tornado server on a free loopback port: the app's own page and ``sio`` at ``path``."""
    app = tornado.web.Application(
        [(r"/", Page), (path, socketwire.get_tornado_handler(sio))], **settings
    )
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, HOST)
    server.add_sockets(sockets)
    return server, f"http://{HOST}:{sockets[0].getsockname()[1]}"


async def stop(server: Any) -> None:
    server.stop()
    await asyncio.wait_for(server.close_all_connections(), 10)


def chat_server(**options: Any) -> tuple[socketwire.AsyncServer, Served]:
    sio = socketwire.AsyncServer(
        async_mode="tornado", max_http_buffer_size=LIMIT, cors_allowed_origins="*", **options
    )
    served = Served(sio, "")

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> Any:
        if not isinstance(auth, dict) or auth.get("token") != "secret":
            raise socketwire.ConnectionRefusedError("unauthorized")
        assert isinstance(environ["tornado.handler"], tornado.web.RequestHandler)
        assert environ["REMOTE_ADDR"] == HOST
        await sio.enter_room(sid, "lobby")
        await sio.emit("welcome", {"auth": auth}, to=sid)
        return True

    @sio.on("echo")
    async def echo(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("shout")
    async def shout(sid: str, text: str) -> str:
        await sio.emit("shouted", {"text": text}, room="lobby")
        return "sent"

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        served.reasons[sid] = reason
        served.left(sid).set()

    return sio, served


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    sio, served = chat_server()
    server, served.url = await start(sio)
    try:
        yield served
    finally:
        await stop(server)


async def python_client(
    url: str, transports: list[str] | None, events: asyncio.Queue[Any] | None = None
) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    if events is not None:
        for name in ("welcome", "shouted"):
            client.on(name, lambda data, name=name: events.put_nowait((name, data)))
    await client.connect(url, transports=transports, auth={"token": "secret"}, wait_timeout=5)
    return client


def test_async_mode_and_lazy_import() -> None:
    assert socketwire.AsyncServer(async_mode="tornado").async_mode == "tornado"
    code = "import socketwire, sys; assert 'tornado' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None], ids=str)
async def test_python_client(served: Served, transports: list[str] | None) -> None:
    async with aiohttp.ClientSession() as http, http.get(served.url + "/") as r:
        assert await r.text() == "tornado page"  # the app's other routes still work
    events: asyncio.Queue[Any] = asyncio.Queue()
    c = await python_client(served.url, transports, events)
    other = await python_client(served.url, ["polling"])
    try:
        assert await asyncio.wait_for(events.get(), 5) == ("welcome", {"auth": {"token": "secret"}})
        assert await c.call("echo", ("x", b"\x01\x02"), timeout=5) == ("x", b"\x01\x02")
        if transports is None:  # the upgrade happened and the session goes on over it
            assert c.transport() == "websocket"
        heard: asyncio.Queue[Any] = asyncio.Queue()
        other.on("shouted", heard.put_nowait)
        assert await c.call("shout", "hi", timeout=5) == "sent"
        assert await asyncio.wait_for(events.get(), 5) == ("shouted", {"text": "hi"})
        assert await asyncio.wait_for(heard.get(), 5) == {"text": "hi"}
        sid = c.get_sid()
        assert sid is not None
        await c.disconnect()
        await asyncio.wait_for(served.left(sid).wait(), 5)
        if transports == ["polling"]:
            assert served.reasons[sid] == "client disconnect"
        else:
            # python-socketio's client closes its WebSocket without waiting for its queued
            # DISCONNECT and CLOSE packets to go out: either may reach the server first
            assert served.reasons[sid] in ("client disconnect", "transport close")
    finally:
        await c.disconnect()
        await other.disconnect()


async def test_refused_connect(served: Served) -> None:
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(served.url, auth={"token": "wrong"}, wait_timeout=5)
    assert errors == [{"message": "unauthorized"}]


async def test_server_disconnect_over_websocket(served: Served) -> None:
    client = await python_client(served.url, ["websocket"])
    sid = client.get_sid()
    assert sid is not None
    closed = asyncio.Event()
    client.on("disconnect", lambda *args: closed.set())
    await served.sio.disconnect(sid)
    await asyncio.wait_for(closed.wait(), 5)
    await asyncio.wait_for(served.left(sid).wait(), 5)
    assert served.reasons[sid] == "server disconnect"


JS_SCRIPT = r"""
const { io } = require(process.argv[1]);
const [url, transport] = [process.argv[2], process.argv[3]];
const opts = { reconnection: false, timeout: 5000, auth: { token: "secret" } };
if (transport !== "upgrade") opts.transports = [transport];
const socket = io(url, opts);
const fail = (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); };
const watchdog = setTimeout(() => fail("timeout"), 15000);
socket.on("connect_error", fail);
const welcome = new Promise((resolve) => socket.once("welcome", resolve));
const shouted = new Promise((resolve) => socket.once("shouted", resolve));
socket.on("connect", async () => {
  const result = { welcome: await welcome };
  result.echo = await new Promise((resolve) =>
    socket.emit("echo", "js", Buffer.from([1, 2]), (...args) => resolve(args)));
  result.echo[1] = Array.from(result.echo[1]);
  result.shout = await socket.timeout(5000).emitWithAck("shout", "from js");
  result.shouted = await shouted;
  if (transport === "upgrade" && socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  result.transport = socket.io.engine.transport.name;
  result.sid = socket.id;
  console.log(JSON.stringify(result));
  clearTimeout(watchdog);
  socket.disconnect();  // node exits once the DISCONNECT and CLOSE packets are out
});
"""


@pytest.mark.interop
@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
async def test_js_client(served: Served, transport: str) -> None:
    client_dir = JS_DIR / "node_modules" / "socket.io-client"
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not client_dir.is_dir():
        pytest.fail("tests/js/node_modules missing: run `cd tests/js && npm ci`")
    proc = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        JS_SCRIPT,
        "--",
        str(client_dir),
        served.url,
        transport,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (out, err)
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["welcome"] == {"auth": {"token": "secret"}}
    assert result["echo"] == ["js", [1, 2]]
    assert result["shout"] == "sent"
    assert result["shouted"] == {"text": "from js"}
    assert result["transport"] == ("polling" if transport == "polling" else "websocket")
    await asyncio.wait_for(served.left(result["sid"]).wait(), 5)
    assert served.reasons[result["sid"]] == "client disconnect"


# ------------------------------------------------------------------ bad input


async def handshake(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "/socket.io/?EIO=4&transport=polling") as r:
        assert r.status == 200
        text = await r.text()
    return str(json.loads(text[1:])["sid"])


async def test_oversized_post_refused_others_unharmed(served: Served) -> None:
    other = await python_client(served.url, ["polling"])
    try:
        async with aiohttp.ClientSession() as http:
            for chunked in (False, True):
                sid = await handshake(http, served.url)
                body = b"4" + b"y" * (LIMIT + 10)
                data: Any = body
                if chunked:  # no Content-Length: refused once the streamed body passes it

                    async def gen(body: bytes = body) -> AsyncIterator[bytes]:
                        for i in range(0, len(body), 1000):
                            yield body[i : i + 1000]

                    data = gen()
                url = f"{served.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
                async with http.post(url, data=data) as r:
                    assert r.status == 413
                    assert await r.json() == {"code": 3, "message": "Payload too large"}
                # the session lost data: it is closed (no poll parks on it)
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                    assert r.status in (200, 400)
                    if r.status == 200:
                        assert (await r.text()).endswith("1")  # close packet
        # a body under the limit still goes through, and the other client is fine
        assert await other.call("echo", "still here", timeout=5) == "still here"
    finally:
        await other.disconnect()


async def test_oversized_websocket_message_closes_1009(served: Served) -> None:
    other = await python_client(served.url, ["websocket"])
    try:
        async with aiohttp.ClientSession() as http:
            ws_url = served.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            async with http.ws_connect(ws_url) as ws:
                opened = await asyncio.wait_for(ws.receive(), 5)
                assert opened.type == aiohttp.WSMsgType.TEXT and opened.data.startswith("0{")
                await ws.send_str("40" + json.dumps({"token": "secret"}))
                connected = await asyncio.wait_for(ws.receive(), 5)
                assert connected.data.startswith("40{")
                await ws.send_str("42" + json.dumps(["echo", "z" * LIMIT]))
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                assert ws.close_code == 1009
        assert await other.call("echo", "unharmed", timeout=5) == "unharmed"
        # just under the limit goes through (the limit counts the whole Engine.IO packet)
        payload = "w" * (LIMIT - 100)
        assert await other.call("echo", payload, timeout=5) == payload
    finally:
        await other.disconnect()


async def test_unknown_sid_and_bad_requests(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        base = served.url + "/socket.io/?EIO=4"
        async with http.get(base + "&transport=polling&sid=nope") as r:
            assert r.status == 400
            assert await r.json() == {"code": 1, "message": "Session ID unknown"}
        async with http.post(base + "&transport=polling&sid=nope", data=b"4x") as r:
            assert r.status == 400
            assert (await r.json())["code"] == 1
        async with http.get(served.url + "/socket.io/?EIO=4&transport=carrier-pigeon") as r:
            assert r.status == 400
            assert (await r.json())["code"] == 0
        async with http.post(base + "&transport=polling", data=b"") as r:
            assert r.status == 400  # a handshake must be a GET
            assert (await r.json())["code"] == 2
        ws_url = served.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(ws_url + "&sid=nope")
        assert info.value.status == 400
        # CORS preflight, answered by the core
        headers = {"Origin": "https://x.example", "Access-Control-Request-Method": "POST"}
        async with http.options(base + "&transport=polling", headers=headers) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "https://x.example"


async def test_origin_is_the_cores_decision() -> None:
    """Tornado's own checks (``check_origin``, ``cross_origin_protection``) refuse
    cross-origin requests the server allows; the handler leaves the decision to the core."""
    sio = socketwire.AsyncServer(cors_allowed_origins=["https://good.example"])

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        return None

    server, url = await start(sio, cross_origin_protection=True, xsrf_cookies=True)
    try:
        async with aiohttp.ClientSession() as http:
            ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            good = {"Origin": "https://good.example", "Sec-Fetch-Site": "cross-site"}
            async with http.ws_connect(ws_url, headers=good) as ws:
                opened = await asyncio.wait_for(ws.receive(), 5)
                assert opened.data.startswith("0{")
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(ws_url, headers={"Origin": "https://evil.example"})
            assert info.value.status == 403
            async with http.get(url + "/socket.io/?EIO=4&transport=polling", headers=good) as r:
                assert r.status == 200
                assert r.headers["Access-Control-Allow-Origin"] == "https://good.example"
                sid = json.loads((await r.text())[1:])["sid"]
            poll = f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}"
            async with http.post(poll, data=b"40", headers=good) as r:
                assert r.status == 200  # Tornado would refuse this cross-origin POST
                assert await r.text() == "ok"
            evil = {"Origin": "https://evil.example"}
            async with http.post(poll, data=b"40", headers=evil) as r:
                assert r.status == 403
                assert (await r.json())["code"] == 4
    finally:
        await stop(server)


async def test_parked_poll_notices_client_leaving(served: Served) -> None:
    """A client that drops its parked poll frees the session for its next poll (otherwise
    the next one would count as a second concurrent poll and close the session)."""
    driver = served.sio.driver
    parked, aborted = asyncio.Event(), asyncio.Event()
    handle_http, poll_aborted = driver.handle_http, driver.poll_aborted

    def spy_handle(request: Any, body: bytes, respond: Any) -> Any:
        outcome = handle_http(request, body, respond)
        if type(outcome).__name__ == "PollWait":
            parked.set()
        return outcome

    def spy_abort(session: Any, respond: Any) -> None:
        poll_aborted(session, respond)
        aborted.set()

    driver.handle_http = spy_handle  # type: ignore[method-assign]
    driver.poll_aborted = spy_abort  # type: ignore[method-assign]
    async with aiohttp.ClientSession() as http:
        sid = await handshake(http, served.url)
        poll = f"{served.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with http.post(poll, data=b'40{"token":"secret"}') as r:
            assert r.status == 200
        text = ""
        while "welcome" not in text:  # the CONNECT reply and the welcome event
            async with http.get(poll) as r:
                assert r.status == 200
                text += await r.text()
        assert not parked.is_set()
        _, writer = await asyncio.open_connection(HOST, int(served.url.rsplit(":", 1)[1]))
        path = poll.removeprefix(served.url)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await writer.drain()
        await asyncio.wait_for(parked.wait(), 5)
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(aborted.wait(), 5)
        # the session is still open: the next poll parks and gets what the server emits
        get = asyncio.ensure_future(http.get(poll))
        parked.clear()
        await asyncio.wait_for(parked.wait(), 5)
        await served.sio.emit("news", "again", room="lobby")
        async with await asyncio.wait_for(get, 5) as r:
            assert r.status == 200
            assert "again" in await r.text()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=str)
async def test_plain_engineio_server(transports: list[str]) -> None:
    """``get_tornado_handler`` also serves an ``AsyncEngineServer`` (python-engineio's
    ``engineio.get_tornado_handler``)."""
    eio = socketwire.AsyncEngineServer()

    @eio.on("message")
    async def message(sid: str, data: Any) -> None:
        await eio.send(sid, data)

    server, url = await start(eio, path=r"/engine.io/")
    client = engineio.AsyncClient()
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("message", got.put_nowait)
    try:
        await client.connect(url, transports=transports)
        await client.send("hello")
        await client.send(b"\x00\x01")
        assert await asyncio.wait_for(got.get(), 5) == "hello"
        assert await asyncio.wait_for(got.get(), 5) == b"\x00\x01"
    finally:
        await client.disconnect()
        await stop(server)


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=str)
async def test_heartbeat(transports: list[str]) -> None:
    """Pings go out through parked polls and WebSocket writes: a live client outlasts
    several ping cycles while one that stopped polling is dropped with 'ping timeout'."""
    sio, served = chat_server(ping_interval=0.3, ping_timeout=0.6)
    server, served.url = await start(sio)
    live = await python_client(served.url, transports)
    try:
        for _ in range(2):  # two quiet clients in a row: the live one outlasts both
            async with aiohttp.ClientSession() as http:
                sid = await handshake(http, served.url)
                poll = f"{served.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
                async with http.post(poll, data=b'40{"token":"secret"}') as r:
                    assert r.status == 200
                async with http.get(poll) as r:  # the CONNECT reply; then it goes quiet
                    connected = await r.text()
            quiet = json.loads(connected.split("\x1e")[0][2:])["sid"]
            await asyncio.wait_for(served.left(quiet).wait(), 5)
            assert served.reasons[quiet] == "ping timeout"
            assert live.get_sid() not in served.reasons
        assert await live.call("echo", "alive", timeout=5) == "alive"
    finally:
        await live.disconnect()
        await stop(server)
