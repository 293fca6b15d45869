"""WebSocket framing: client frames fed whole, split at every byte, and malformed."""

from __future__ import annotations

import os
import struct

import pytest

from socketwire import ws
from socketwire.engineio.packet import OutPacket


def client_frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    mask = mask if mask is not None else os.urandom(4)
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        head = bytes((first, 0x80 | length))
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def test_accept_key_rfc6455_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_validation() -> None:
    good = {
        "upgrade": "websocket",
        "connection": "keep-alive, Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert ws.handshake_error(good) is None
    assert ws.handshake_error({**good, "sec-websocket-version": "8"})
    assert ws.handshake_error({**good, "sec-websocket-key": "short"})
    assert ws.handshake_error({**good, "connection": "close"})


def test_server_frames_unmasked_and_cached() -> None:
    packet = OutPacket("4hi")
    frame = ws.frame_for(packet)
    assert frame == b"\x81\x034hi"
    assert ws.frame_for(packet) is frame
    assert ws.encode_frame(ws.BINARY, b"x" * 200)[:4] == b"\x82\x7e\x00\xc8"
    assert ws.encode_frame(ws.BINARY, b"x" * 70000)[:2] == b"\x82\x7f"


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_every_split_point(size: int) -> None:
    payload = bytes(range(256)) * (size // 256 + 1)
    payload = payload[:size]
    data = client_frame(ws.BINARY, payload) + client_frame(ws.TEXT, "é!".encode())
    step = 1 if size < 200 else 997
    for cut in range(0, len(data) + 1, step):
        parser = ws.FrameParser(1 << 20)
        messages = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert messages == [(ws.BINARY, payload), (ws.TEXT, "é!")]


def test_byte_at_a_time() -> None:
    data = client_frame(ws.TEXT, b"hello") + client_frame(ws.PING, b"p")
    parser = ws.FrameParser(100)
    messages = []
    for i in range(len(data)):
        messages += parser.feed(data[i : i + 1])
    assert messages == [(ws.TEXT, "hello"), (ws.PING, b"p")]


def test_fragmented_message_with_interleaved_ping() -> None:
    data = (
        client_frame(ws.TEXT, b"hel", fin=False)
        + client_frame(ws.PING, b"!")
        + client_frame(ws.CONT, b"lo", fin=False)
        + client_frame(ws.CONT, b"!", fin=True)
    )
    assert ws.FrameParser(100).feed(data) == [(ws.PING, b"!"), (ws.TEXT, "hello!")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x81\x05hello", ws.PROTOCOL_ERROR),  # unmasked client frame
        (bytes([0xC1]) + client_frame(ws.TEXT, b"x")[1:], ws.PROTOCOL_ERROR),  # RSV1 set
        (client_frame(ws.CONT, b"x"), ws.PROTOCOL_ERROR),  # continuation with nothing to continue
        (client_frame(0x3, b"x"), ws.PROTOCOL_ERROR),  # reserved opcode
        (client_frame(ws.PING, b"x" * 126), ws.PROTOCOL_ERROR),  # control frame too long
        (client_frame(ws.PING, b"x", fin=False), ws.PROTOCOL_ERROR),
        (client_frame(ws.TEXT, b"\xff\xfe"), ws.INVALID_DATA),
        (client_frame(ws.BINARY, b"x" * 101), ws.TOO_BIG),
        # the one-small-text-frame fast path keeps the same checks
        (client_frame(ws.TEXT, b"x" * 101), ws.TOO_BIG),
        (client_frame(ws.TEXT, b"ok \xc3"), ws.INVALID_DATA),
    ],
)
def test_malformed_frames(data: bytes, code: int) -> None:
    with pytest.raises(ws.WebSocketError) as info:
        ws.FrameParser(100).feed(data)
    assert info.value.code == code


def test_fast_path_frame_after_a_partial_one_is_not_misread() -> None:
    parser = ws.FrameParser(100)
    first, second = client_frame(ws.TEXT, b"one"), client_frame(ws.TEXT, b"two")
    assert parser.feed(first[:3]) == []  # a partial frame is buffered ...
    # ... so a read that looks like one whole frame must be parsed behind it
    assert parser.feed(first[3:] + second) == [(ws.TEXT, "one"), (ws.TEXT, "two")]
    assert parser.feed(second) == [(ws.TEXT, "two")]
    fragment = client_frame(ws.TEXT, b"a", fin=False)
    assert parser.feed(fragment) == []
    with pytest.raises(ws.WebSocketError):  # a new text frame inside a fragmented message
        parser.feed(second)


def test_too_big_detected_from_header_before_buffering() -> None:
    parser = ws.FrameParser(1000)
    header = struct.pack("!BBQ", 0x82, 0x80 | 127, 10**9) + b"mask"
    with pytest.raises(ws.WebSocketError):
        parser.feed(header)


def test_fragments_count_towards_limit() -> None:
    data = client_frame(ws.TEXT, b"x" * 60, fin=False) + client_frame(ws.CONT, b"x" * 60)
    with pytest.raises(ws.WebSocketError):
        ws.FrameParser(100).feed(data)
