"""WebSocket (RFC 6455), server side, sans I/O: the opening handshake and framing.

Server frames are never masked (RFC 6455 section 5.1), so a frame's bytes are the same for
every recipient: :func:`frame_for` caches the frame on the outgoing packet, which is what makes
a broadcast encode once. Unmasking client frames uses the C implementation shipped with the
``websockets`` library.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping

from websockets.speedups import apply_mask

from .engineio.packet import OutPacket

__all__ = [
    "CLOSE",
    "FrameParser",
    "WebSocketError",
    "accept_key",
    "encode_frame",
    "frame_for",
    "handshake_error",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# Close codes (RFC 6455 section 7.4.1)
NORMAL = 1000
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
TOO_BIG = 1009


class WebSocketError(Exception):
    """The peer broke the framing rules; ``code`` is the close code to send."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def handshake_error(headers: Mapping[str, str]) -> str | None:
    """Why the request is not a valid WebSocket opening handshake (section 4.2.1), or None."""
    if headers.get("upgrade", "").lower() != "websocket":
        return "missing Upgrade: websocket"
    if "upgrade" not in headers.get("connection", "").lower():
        return "missing Connection: upgrade"
    if headers.get("sec-websocket-version") != "13":
        return "unsupported Sec-WebSocket-Version"
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return "invalid Sec-WebSocket-Key"
    except ValueError:
        return "invalid Sec-WebSocket-Key"
    return None


def accept_key(key: str) -> str:
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unfragmented, unmasked frame."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, length))
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def frame_for(packet: OutPacket) -> bytes:
    """The frame carrying an Engine.IO packet, computed once per packet object."""
    frame = packet.ws_frame
    if frame is None:
        data = packet.data
        if isinstance(data, str):
            frame = encode_frame(TEXT, data.encode())
        else:
            frame = encode_frame(BINARY, data)
        packet.ws_frame = frame
    return frame


def close_frame(code: int = NORMAL, reason: str = "") -> bytes:
    return encode_frame(CLOSE, struct.pack("!H", code) + reason.encode())


def _check_close(payload: bytes) -> None:
    """A client's close frame: empty, or a valid code and a UTF-8 reason (RFC 6455 5.5.1,
    7.4); anything else fails the connection with 1002 (1007 for the reason's bytes)."""
    if not payload:
        return
    if len(payload) == 1:
        raise WebSocketError(PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not (
        1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    ):  # 1004-1006 and 1015 are never sent; the rest is unassigned
        raise WebSocketError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebSocketError(INVALID_DATA, "close reason is not UTF-8") from exc


class FrameParser:
    """Incremental parser of client frames.

    ``feed(data)`` returns complete messages as ``(opcode, payload)``: TEXT (payload ``str``),
    BINARY (``bytes``), PING, PONG or CLOSE (``bytes``). Fragmented messages are reassembled;
    ``max_size`` bounds a message before it is buffered whole (close code 1009).
    """

    __slots__ = ("_buffer", "_fragments", "_fragments_size", "_opcode", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragments_size = 0
        self._opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, str | bytes]]:
        # The usual read is exactly one small, final, masked text frame with nothing
        # buffered: decode it without touching the buffer (a third of the general path).
        if (
            len(data) > 6
            and data[0] == 0x81
            and len(data) == data[1] - 0x7A  # a masked length under 126 (so data[1] > 0x80)
            and data[1] < 0xFE
            and not self._buffer
            and not self._fragments
            and data[1] - 0x80 <= self.max_size
        ):
            try:
                return [(TEXT, apply_mask(data[6:], data[2:6]).decode("utf-8"))]
            except UnicodeDecodeError as exc:
                raise WebSocketError(INVALID_DATA, "invalid UTF-8") from exc
        buffer = self._buffer
        buffer += data
        messages: list[tuple[int, str | bytes]] = []
        pos = 0
        end = len(buffer)
        try:
            while end - pos >= 2:
                b0 = buffer[pos]
                b1 = buffer[pos + 1]
                if b0 & 0x70:
                    raise WebSocketError(PROTOCOL_ERROR, "reserved bits set")
                if not b1 & 0x80:
                    raise WebSocketError(PROTOCOL_ERROR, "client frame not masked")
                length = b1 & 0x7F
                head = 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                    head = 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length = struct.unpack_from("!Q", buffer, pos + 2)[0]
                    head = 10
                opcode = b0 & 0x0F
                fin = b0 & 0x80
                if opcode >= 0x8:
                    if length > 125 or not fin:
                        raise WebSocketError(PROTOCOL_ERROR, "invalid control frame")
                elif length + self._fragments_size > self.max_size:
                    raise WebSocketError(TOO_BIG, "message too big")
                total = head + 4 + length
                if end - pos < total:
                    break
                mask = bytes(buffer[pos + head : pos + head + 4])
                payload = apply_mask(bytes(buffer[pos + head + 4 : pos + total]), mask)
                pos += total
                if opcode >= 0x8:
                    if opcode == CLOSE:
                        _check_close(payload)
                    elif opcode != PING and opcode != PONG:
                        raise WebSocketError(PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
                    messages.append((opcode, payload))
                    continue
                if opcode == CONT:
                    if not self._fragments:
                        raise WebSocketError(PROTOCOL_ERROR, "unexpected continuation")
                    self._fragments.append(payload)
                    self._fragments_size += length
                    if not fin:
                        continue
                    payload = b"".join(self._fragments)
                    opcode = self._opcode
                    self._fragments = []
                    self._fragments_size = 0
                elif self._fragments:
                    raise WebSocketError(PROTOCOL_ERROR, "expected continuation")
                elif not fin:
                    if opcode not in (TEXT, BINARY):
                        raise WebSocketError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
                    self._opcode = opcode
                    self._fragments = [payload]
                    self._fragments_size = length
                    continue
                if opcode == TEXT:
                    try:
                        messages.append((TEXT, payload.decode("utf-8")))
                    except UnicodeDecodeError as exc:
                        raise WebSocketError(INVALID_DATA, "invalid UTF-8") from exc
                elif opcode == BINARY:
                    messages.append((BINARY, payload))
                else:
                    raise WebSocketError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        finally:
            del buffer[:pos]
        return messages
