"""Socket.IO v5 packets (socket.io-protocol, section "Packet encoding").

``<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]``

Binary arguments travel as separate Engine.IO binary messages after the text packet; in the
JSON they are replaced by ``{"_placeholder": true, "num": <index>}``. Encoding finds the bytes
in one pass (orjson's ``default`` hook collects them), so arguments without bytes cost a single
``orjson.dumps``.
"""

from __future__ import annotations

import enum
from typing import Any

import orjson

from ..exceptions import ProtocolError

__all__ = ["Packet", "PacketType", "decode", "encode"]


class PacketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


# Event names the protocol reserves; a client may not emit them (socket.io-parser does the same).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

_BYTES = (bytes, bytearray, memoryview)


class Packet:
    """A decoded Socket.IO packet. ``attachments`` counts the binary parts still awaited."""

    __slots__ = ("attachments", "buffers", "data", "id", "nsp", "type")

    def __init__(
        self,
        type_: int,
        nsp: str = "/",
        data: Any = None,
        id_: int | None = None,
        attachments: int = 0,
    ) -> None:
        self.type = type_
        self.nsp = nsp
        self.data = data
        self.id = id_
        self.attachments = attachments
        self.buffers: list[bytes] = []

    def __repr__(self) -> str:
        return f"Packet({PacketType(self.type).name}, {self.nsp!r}, {self.data!r}, id={self.id})"

    def add_attachment(self, data: bytes) -> bool:
        """Store one binary part; True when the packet is complete (then reconstructed)."""
        self.buffers.append(data)
        if len(self.buffers) < self.attachments:
            return False
        self.data = _reconstruct(self.data, self.buffers)
        self.buffers = []
        return True


# --------------------------------------------------------------------------- encoding


def encode(
    type_: int, nsp: str, data: Any = None, id_: int | None = None
) -> tuple[str, list[bytes]]:
    """Encode a packet; returns the text part and the binary attachments (maybe empty).

    ``type_`` EVENT / ACK become BINARY_EVENT / BINARY_ACK when ``data`` holds bytes.
    """
    attachments: list[bytes] = []
    if data is None:
        body = ""
    else:
        try:
            body = orjson.dumps(data).decode()
        except TypeError:
            body = _dumps_with_binary(data, attachments)
    head = str(type_)
    if attachments:
        if type_ == PacketType.EVENT:
            head = "5"
        elif type_ == PacketType.ACK:
            head = "6"
        head += f"{len(attachments)}-"
    if nsp != "/":
        head += nsp + ","
    if id_ is not None:
        head += str(id_)
    return head + body, attachments


def _dumps_with_binary(data: Any, attachments: list[bytes]) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, _BYTES):
            attachments.append(bytes(obj))
            return {"_placeholder": True, "num": len(attachments) - 1}
        if isinstance(obj, (set, frozenset)):
            return list(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return orjson.dumps(data, default=default, option=orjson.OPT_NON_STR_KEYS).decode()


# --------------------------------------------------------------------------- decoding


def decode(text: str, max_attachments: int = 10) -> Packet:
    """Decode the text part of a packet; raises :class:`ProtocolError` on anything invalid
    (unknown type, bad attachment count, bad ack id, invalid JSON, payload of the wrong shape).
    """
    if not text:
        raise ProtocolError("empty Socket.IO packet")
    type_ = ord(text[0]) - 48
    if not 0 <= type_ <= 6:
        raise ProtocolError(f"unknown Socket.IO packet type {text[0]!r}")
    length = len(text)
    i = 1
    attachments = 0
    if type_ == PacketType.BINARY_EVENT or type_ == PacketType.BINARY_ACK:
        dash = text.find("-", 1)
        digits = text[1:dash] if dash > 0 else ""
        if not digits.isdigit() or not digits.isascii():
            raise ProtocolError("invalid attachment count")
        attachments = int(digits)
        if attachments > max_attachments:
            raise ProtocolError(f"too many binary attachments ({attachments} > {max_attachments})")
        i = dash + 1
    nsp = "/"
    if i < length and text[i] == "/":
        comma = text.find(",", i)
        if comma < 0:
            nsp, i = text[i:], length
        else:
            nsp, i = text[i:comma], comma + 1
    id_: int | None = None
    start = i
    while i < length and "0" <= text[i] <= "9":
        i += 1
    if i > start:
        if i - start > 15:
            raise ProtocolError("ack id too long")
        id_ = int(text[start:i])
    data: Any = None
    if i < length:
        try:
            data = orjson.loads(text[i:])
        except orjson.JSONDecodeError as exc:
            raise ProtocolError("invalid JSON payload") from exc
    _validate(type_, data, id_)
    packet = Packet(type_, nsp, data, id_, attachments)
    if attachments and _count_placeholders(data, attachments) < 0:
        raise ProtocolError("binary placeholder index out of range")
    if not attachments and type_ >= PacketType.BINARY_EVENT:
        # A binary packet announcing zero attachments is complete as it stands, but it may
        # still not refer to any.
        if _count_placeholders(data, 0) < 0:
            raise ProtocolError("binary placeholder index out of range")
        packet.data = _reconstruct(data, [])
    return packet


def _validate(type_: int, data: Any, id_: int | None) -> None:
    if type_ == PacketType.CONNECT:
        ok = data is None or isinstance(data, dict)
    elif type_ == PacketType.DISCONNECT:
        ok = data is None
    elif type_ == PacketType.EVENT or type_ == PacketType.BINARY_EVENT:
        ok = (
            isinstance(data, list)
            and len(data) > 0
            and (
                (isinstance(data[0], str) and data[0] not in RESERVED_EVENTS)
                or (isinstance(data[0], int) and not isinstance(data[0], bool))
            )
        )
    elif type_ == PacketType.ACK or type_ == PacketType.BINARY_ACK:
        ok = isinstance(data, list) and id_ is not None
    else:  # CONNECT_ERROR is server-to-client only
        ok = False
    if not ok:
        raise ProtocolError(f"invalid payload for {PacketType(type_).name}")
    if id_ is not None and type_ in (PacketType.CONNECT, PacketType.DISCONNECT):
        raise ProtocolError("unexpected ack id")


def _count_placeholders(data: Any, limit: int) -> int:
    """Check every placeholder index is below ``limit``; -1 if one is not."""
    if isinstance(data, list):
        for item in data:
            if _count_placeholders(item, limit) < 0:
                return -1
    elif isinstance(data, dict):
        if data.get("_placeholder") is True:
            num = data.get("num")
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < limit:
                return -1
            return 0
        for item in data.values():
            if _count_placeholders(item, limit) < 0:
                return -1
    return 0


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, list):
        return [_reconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True and "num" in data:
            return buffers[data["num"]]
        return {key: _reconstruct(value, buffers) for key, value in data.items()}
    return data
