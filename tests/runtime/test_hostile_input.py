"""Input meant to break shared machinery: whatever one client sends, the exception it
causes ends that client alone, and the witnesses (:func:`guarded`) keep every broadcast and
ack. Plus RFC 6455's rules for reserved opcodes and close frames, and blind pongs."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

import socketwire

from .conftest import App, guarded
from .wire import RawWebSocket

pytestmark = pytest.mark.timeout(60)


def nested(depth: int) -> str:
    return "[" * depth + '{"_placeholder":true,"num":0}' + "]" * depth


async def test_integer_event_name_on_a_class_namespace(server, wire):
    """``42/chat,1[123,"x"]`` once made ``"on_" + 123`` raise inside the shared flush."""
    app = App()
    seen: list[Any] = []

    class Chat(socketwire.AsyncNamespace):
        def on_message(self, sid: str, data: Any) -> None:
            seen.append(data)

    app.sio.register_namespace(Chat("/chat"))
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw("websocket")
    async with guarded(app, *peers):
        await bad.send("40/chat,")
        connected = await bad.recv()
        assert isinstance(connected, str) and connected.startswith("40/chat,")
        for _ in range(50):
            await bad.send('42/chat,1[123,"x"]', '42/chat,[7,"y"]', '42/chat,["message","ok"]')
        # numeric names reach no on_<name> method; the client is not harmed either
        await bad.send('4299["echo","still"]')
        reply = await bad.recv()
        assert reply == '4399[["still"]]' or reply == '4399["still"]', reply
        assert seen == ["ok"] * 50


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_deeply_nested_binary_event_closes_only_its_client(server, wire, transport):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    bad = await wire.raw(transport)
    async with guarded(app, *peers):
        await bad.send('451-["evt",' + nested(990) + "]", b"\x00")
        assert await app.disconnect_reason(bad.sid) == "transport error"


async def test_nesting_within_the_limit_is_delivered(server, wire):
    app = App()
    await server.start(app)
    good = await wire.raw("websocket")
    await good.send('451-["deep",' + nested(100) + "]", b"\x01")
    name, _, args = await app.events.get()
    assert name == "deep"
    value = args[0]
    for _ in range(100):
        value = value[0]
    assert value == b"\x01"


def code(value: int) -> bytes:
    return struct.pack("!H", value)


@pytest.mark.parametrize(
    "first, payload, expected",
    [
        (0x8B, b"", 1002),  # reserved control opcode 0xB
        (0x83, b"", 1002),  # reserved data opcode 0x3
        (0x88, b"\x03", 1002),  # a close frame with a 1-byte payload
        (0x88, code(5000), 1002),
        (0x88, code(999), 1002),
        (0x88, code(1005), 1002),
        (0x88, code(2000), 1002),
        (0x88, code(1000) + b"\xff\xfe", 1007),  # a reason that is not UTF-8
    ],
    ids=["opcode-0xB", "opcode-0x3", "close-1-byte", "close-5000", "close-999",
         "close-1005", "close-2000", "close-bad-utf8"],
)  # fmt: skip
async def test_websocket_protocol_violations_fail_with_rfc_codes(
    server, wire, first, payload, expected
):
    app = App()
    await server.start(app)
    peers = await wire.witnesses()
    async with guarded(app, *peers):
        bad = await RawWebSocket.open(server.port)
        try:
            bad.send(first, payload)
            assert await bad.close_code() == expected
        finally:
            bad.close()


async def test_a_valid_close_code_is_a_clean_close(server, wire):
    app = App()
    await server.start(app)
    bad = await RawWebSocket.open(server.port)
    try:
        bad.send(0x88, code(4000) + "bye ✓".encode())
        assert await bad.close_code() in (1000, 4000)  # native answers 1000, uvicorn echoes
    finally:
        bad.close()


async def test_blind_pongs_do_not_keep_a_non_polling_client_alive(server, wire):
    """A polling client that never GETs (so never sees a ping) but POSTs pongs is dropped
    with 'ping timeout' once its time is up."""
    app = App(ping_interval=0.5, ping_timeout=0.5)
    await server.start(app)
    bad = await wire.raw("polling")
    assert bad.polling is not None

    async def pong_forever() -> None:
        while True:
            reply = await bad.send("3")
            if reply is None or reply.status != 200:
                return
            await asyncio.sleep(0.1)

    ponging = asyncio.ensure_future(pong_forever())
    try:
        assert await app.disconnect_reason(bad.sid, timeout=5) == "ping timeout"
    finally:
        ponging.cancel()


async def test_threaded_server_survives_the_same_input() -> None:
    """The integer event name and the deep binary event against the threaded Server on
    the native transport, with a python-socketio client alongside."""
    import socketio

    sio = socketwire.Server()
    seen: list[Any] = []

    class Chat(socketwire.Namespace):
        def on_message(self, sid: str, data: Any) -> None:
            seen.append(data)

    sio.register_namespace(Chat("/chat"))

    @sio.on("echo")
    def echo(sid: str, data: Any) -> Any:
        return data

    native = await socketwire.create_server(sio, "127.0.0.1", 0)
    port = native.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    good = socketio.AsyncClient(reconnection=False)
    await good.connect(url, transports=["websocket"], wait_timeout=5)
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as sock:
                await sock.receive(timeout=5)  # open
                await sock.send_str("40/chat,")
                await sock.receive(timeout=5)
                for _ in range(20):
                    await sock.send_str('42/chat,1[123,"x"]')
                    await sock.send_str('42/chat,["message","ok"]')
                    assert await good.call("echo", "alive", timeout=5) == "alive"
                await sock.send_str('451-["evt",' + nested(990) + "]")
                await sock.send_bytes(b"\x00")
                msg = await sock.receive(timeout=5)
                while msg.type == aiohttp.WSMsgType.TEXT:
                    msg = await sock.receive(timeout=5)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert await good.call("echo", "after", timeout=5) == "after"
        for _ in range(100):
            if len(seen) == 20:
                break
            await asyncio.sleep(0.02)
        assert seen == ["ok"] * 20
    finally:
        await good.disconnect()
        native.close()
        await native.wait_closed()
