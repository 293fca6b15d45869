"""Engine.IO v4 packets and payloads (engine.io-protocol, sections "Packet encoding" and
"Payload encoding").

A text packet is its type digit followed by its data; a binary message travels as a raw
WebSocket binary frame, or over HTTP long-polling as ``b`` + base64. A polling payload joins
packets with the record separator ``\\x1e``.

Outgoing packets are :class:`OutPacket` objects, so that one broadcast is encoded once: the
same object sits in every recipient's queue and caches its WebSocket frame.
"""

from __future__ import annotations

import binascii
import enum
from base64 import b64decode, b64encode

from ..exceptions import ProtocolError

SEPARATOR = "\x1e"


class PacketType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class OutPacket:
    """An encoded outgoing packet: ``data`` is the text packet (``"4hello"``) or the raw
    bytes of a binary message. ``ws_frame`` is filled in by the WebSocket layer once."""

    __slots__ = ("data", "ws_frame")

    def __init__(self, data: str | bytes) -> None:
        self.data = data
        self.ws_frame: bytes | None = None

    def __repr__(self) -> str:
        return f"OutPacket({self.data!r})"


# Shared instances for packets with no data; they never change, so their frames are cached
# for the life of the process.
PING = OutPacket("2")
PONG_PROBE = OutPacket("3probe")
NOOP = OutPacket("6")
CLOSE = OutPacket("1")


def message(data: str | bytes) -> OutPacket:
    """An Engine.IO MESSAGE packet carrying ``data``."""
    if isinstance(data, str):
        return OutPacket("4" + data)
    return OutPacket(bytes(data))


def encode_payload(packets: list[OutPacket]) -> str:
    """Join packets for one HTTP long-polling response (``\\x1e``, binary as ``b<base64>``)."""
    parts = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            parts.append(data)
        else:
            parts.append("b" + b64encode(data).decode("ascii"))
    return SEPARATOR.join(parts)


def decode_packet(text: str) -> tuple[int, str | bytes]:
    """Decode one text packet (WebSocket text frame or one payload record).

    Returns ``(type, data)``; a ``b<base64>`` record decodes to ``(MESSAGE, bytes)``.
    Raises :class:`ProtocolError` for anything else.
    """
    if not text:
        raise ProtocolError("empty packet")
    first = text[0]
    if first == "b":
        try:
            return PacketType.MESSAGE, b64decode(text[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("invalid base64 binary packet") from exc
    type_ = ord(first) - 48
    if not 0 <= type_ <= 6:
        raise ProtocolError(f"unknown packet type {first!r}")
    return type_, text[1:]


def decode_payload(body: bytes) -> list[tuple[int, str | bytes]]:
    """Decode an HTTP long-polling request body into packets."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("payload is not UTF-8") from exc
    return [decode_packet(part) for part in text.split(SEPARATOR)]
