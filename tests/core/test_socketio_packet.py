from __future__ import annotations

import pytest

from socketwire.exceptions import ProtocolError
from socketwire.socketio import packet as sio
from socketwire.socketio.packet import PacketType


def test_encode_event_plain() -> None:
    assert sio.encode(PacketType.EVENT, "/", ["hello", 1, {"a": [True]}]) == (
        '2["hello",1,{"a":[true]}]',
        [],
    )


def test_encode_namespace_and_ack_id() -> None:
    text, _ = sio.encode(PacketType.EVENT, "/admin", ["x"], 12)
    assert text == '2/admin,12["x"]'
    text, _ = sio.encode(PacketType.ACK, "/", [], 3)
    assert text == "33[]"


def test_encode_binary_anywhere_becomes_binary_event() -> None:
    text, attachments = sio.encode(
        PacketType.EVENT, "/", ["up", {"file": b"\x00\x01", "list": [bytearray(b"z")]}]
    )
    assert text == (
        '52-["up",{"file":{"_placeholder":true,"num":0},"list":[{"_placeholder":true,"num":1}]}]'
    )
    assert attachments == [b"\x00\x01", b"z"]


def test_encode_binary_ack() -> None:
    text, attachments = sio.encode(PacketType.ACK, "/chat", [b"x"], 7)
    assert text == '61-/chat,7[{"_placeholder":true,"num":0}]'
    assert attachments == [b"x"]


def test_encode_connect_error_and_disconnect() -> None:
    assert sio.encode(PacketType.CONNECT_ERROR, "/x", {"message": "no"})[0] == (
        '4/x,{"message":"no"}'
    )
    assert sio.encode(PacketType.DISCONNECT, "/")[0] == "1"


def test_decode_event_with_ack() -> None:
    packet = sio.decode('2/chat,42["msg",1,"2"]')
    assert (packet.type, packet.nsp, packet.id, packet.data) == (2, "/chat", 42, ["msg", 1, "2"])


def test_decode_binary_reassembles_attachments() -> None:
    packet = sio.decode('52-["m",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]')
    assert packet.attachments == 2
    assert not packet.add_attachment(b"first")
    assert packet.add_attachment(b"second")
    assert packet.data == ["m", b"second", b"first"]


def test_zero_attachment_binary_packet_is_complete() -> None:
    packet = sio.decode('50-["evt",1]')
    assert packet.attachments == 0
    assert packet.data == ["evt", 1]


def test_connect_with_auth_and_without() -> None:
    assert sio.decode('0{"token":"x"}').data == {"token": "x"}
    assert sio.decode("0/admin,").nsp == "/admin"
    assert sio.decode("0/admin,").data is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",  # unknown type
        "abc",
        "42{",  # invalid JSON (after the type)
        "2{}",  # event payload must be an array
        "2[]",  # ... with a name
        '2["connect"]',  # reserved event name
        "2[true]",
        "3[1]",  # ack without id
        '4{"message":"x"}',  # CONNECT_ERROR is server to client only
        '1["x"]',  # DISCONNECT carries no payload
        "0[1]",  # CONNECT payload must be an object
        '2abc["x"]',  # invalid ack id
        '5-["x"]',  # attachments count missing
        '5x-["x"]',
        '511-["x"]',  # over the cap (10)
        '51-["x",{"_placeholder":true,"num":1}]',  # placeholder out of range
        '51-["x",{"_placeholder":true,"num":"0"}]',
        '50-["x",{"_placeholder":true,"num":0}]',  # refers to an attachment it lacks
        '21234567890123456["x"]',  # absurd ack id
    ],
)
def test_invalid_packets(text: str) -> None:
    with pytest.raises(ProtocolError):
        sio.decode(text)


def test_attachment_cap_is_configurable() -> None:
    assert sio.decode('52-["x"]', max_attachments=2).attachments == 2
    with pytest.raises(ProtocolError):
        sio.decode('53-["x"]', max_attachments=2)


def test_numeric_event_names_are_allowed() -> None:
    assert sio.decode("2[1,2]").data == [1, 2]


def test_non_str_keys_and_sets_in_binary_payloads() -> None:
    text, attachments = sio.encode(PacketType.EVENT, "/", ["e", {1: b"x"}])
    assert text == '51-["e",{"1":{"_placeholder":true,"num":0}}]'
    assert attachments == [b"x"]
