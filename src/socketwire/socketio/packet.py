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


# The types as plain ints for the hot paths: an IntEnum member lookup costs ~100 ns (3.11).
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)

# Event names the protocol reserves; a client may not emit them (socket.io-parser does the same).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

_BYTES = (bytes, bytearray, memoryview)
_DIGITS = "0123456"


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
    type_: int, nsp: str, data: Any = None, id_: int | None = None, json: Any = None
) -> tuple[str, list[bytes]]:
    """Encode a packet; returns the text part and the binary attachments (maybe empty).

    ``type_`` EVENT / ACK become BINARY_EVENT / BINARY_ACK when ``data`` holds bytes.
    ``json`` is a module with the standard library's ``dumps``/``loads`` to use instead of
    orjson (python-socketio's ``json=`` option), e.g. for types only it knows.
    """
    attachments: list[bytes] = []
    if data is None:
        body = ""
    elif json is not None:
        body = json.dumps(_extract_binary(data, attachments), separators=(",", ":"))
    else:
        try:
            body = orjson.dumps(data).decode()
        except TypeError:
            body = _dumps_with_binary(data, attachments)
    if attachments:
        head = f"{BINARY_EVENT if type_ == EVENT else BINARY_ACK if type_ == ACK else type_}"
        head += f"{len(attachments)}-"
    else:
        head = _DIGITS[type_]
    if nsp != "/":
        head += nsp + ","
    if id_ is not None:
        return f"{head}{id_}{body}", attachments
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


def _extract_binary(data: Any, attachments: list[bytes]) -> Any:
    """``data`` with its bytes replaced by placeholders (collected in ``attachments``);
    containers without bytes come back as they are, other objects are left to the JSON
    module."""
    if isinstance(data, _BYTES):
        attachments.append(bytes(data))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, (list, tuple)):
        items = [_extract_binary(item, attachments) for item in data]
        return data if all(a is b for a, b in zip(items, data, strict=True)) else items
    if isinstance(data, dict):
        values = {key: _extract_binary(value, attachments) for key, value in data.items()}
        return data if all(values[k] is v for k, v in data.items()) else values
    return data


# --------------------------------------------------------------------------- decoding


def decode(text: str, max_attachments: int = 10, json: Any = None) -> Packet:
    """Decode the text part of a packet; raises :class:`ProtocolError` on anything invalid
    (unknown type, bad attachment count, bad ack id, invalid JSON, payload of the wrong shape).
    ``json``: see :func:`encode`.
    """
    if not text:
        raise ProtocolError("empty Socket.IO packet")
    type_ = ord(text[0]) - 48
    if not 0 <= type_ <= 6:
        raise ProtocolError(f"unknown Socket.IO packet type {text[0]!r}")
    i = 1
    attachments = 0
    if type_ == BINARY_EVENT or type_ == BINARY_ACK:
        dash = text.find("-", 1)
        digits = text[1:dash] if dash > 0 else ""
        if not digits.isdigit() or not digits.isascii():
            raise ProtocolError("invalid attachment count")
        attachments = int(digits)
        if attachments > max_attachments:
            raise ProtocolError(f"too many binary attachments ({attachments} > {max_attachments})")
        i = dash + 1
    nsp = "/"
    if text.startswith("/", i):
        comma = text.find(",", i)
        if comma < 0:
            nsp, i = text[i:], len(text)
        else:
            nsp, i = text[i:comma], comma + 1
    id_: int | None = None
    rest = text[i:]
    body = rest.lstrip("0123456789")  # what follows the ack id's digits, if any
    id_length = len(rest) - len(body)
    if id_length:
        if id_length > 15:
            raise ProtocolError("ack id too long")
        id_ = int(rest[:id_length])
    data: Any = None
    if body:
        try:
            data = orjson.loads(body) if json is None else json.loads(body)
        except (ValueError, TypeError) as exc:  # both modules' JSONDecodeError are ValueErrors
            raise ProtocolError("invalid JSON payload") from exc
        except RecursionError as exc:  # the standard library's json on deep nesting
            raise ProtocolError("JSON payload nested too deeply") from exc
    _validate(type_, data, id_)
    packet = Packet(type_, nsp, data, id_, attachments)
    if type_ >= BINARY_EVENT:
        if _count_placeholders(data, attachments) < 0:
            raise ProtocolError("binary placeholder index out of range")
        if not attachments:
            # A binary packet announcing zero attachments is complete as it stands.
            packet.data = _reconstruct(data, [])
    return packet


def _validate(type_: int, data: Any, id_: int | None) -> None:
    if type_ == EVENT or type_ == BINARY_EVENT:
        name = data[0] if data.__class__ is list and data else None
        ok = (name.__class__ is str and name not in RESERVED_EVENTS) or (
            isinstance(name, int) and not isinstance(name, bool)
        )
    elif type_ == ACK or type_ == BINARY_ACK:
        ok = isinstance(data, list) and id_ is not None
    elif type_ == CONNECT:
        ok = (data is None or isinstance(data, dict)) and id_ is None
    elif type_ == DISCONNECT:
        ok = data is None and id_ is None
    else:  # CONNECT_ERROR is server-to-client only
        ok = False
    if not ok:
        if id_ is not None and type_ in (CONNECT, DISCONNECT):
            raise ProtocolError("unexpected ack id")
        raise ProtocolError(f"invalid payload for {PacketType(type_).name}")


#: how deep a binary packet's data may nest (its placeholders are searched for); a text
#: packet's depth is bounded by the JSON decoder (orjson: 1024)
MAX_BINARY_NESTING = 512


def _is_placeholder(data: dict[Any, Any]) -> bool:
    return data.get("_placeholder") is True and "num" in data


def _count_placeholders(data: Any, limit: int) -> int:
    """Check every placeholder index is below ``limit``; -1 if one is not. Iterative, and
    refuses data nested deeper than :data:`MAX_BINARY_NESTING` (ProtocolError): a
    client's packet must not be able to exhaust the interpreter's stack."""
    stack = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_BINARY_NESTING:
            raise ProtocolError("binary packet nested too deeply")
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            if item.get("_placeholder") is True:
                num = item.get("num")
                if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < limit:
                    return -1
                continue
            stack.extend((child, depth + 1) for child in item.values())
    return 0


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """``data`` (freshly decoded, so ours to change) with each placeholder replaced by its
    buffer, in place and without recursion (its depth was checked by
    :func:`_count_placeholders`)."""
    if isinstance(data, dict) and _is_placeholder(data):
        return buffers[data["num"]]
    stack = [data]
    while stack:
        container = stack.pop()
        items = enumerate(container) if isinstance(container, list) else container.items()
        for key, value in list(items):
            if isinstance(value, dict):
                if _is_placeholder(value):
                    container[key] = buffers[value["num"]]
                else:
                    stack.append(value)
            elif isinstance(value, list):
                stack.append(value)
    return data
