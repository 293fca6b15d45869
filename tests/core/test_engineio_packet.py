from __future__ import annotations

import pytest

from socketwire.engineio import packet as pk
from socketwire.exceptions import ProtocolError


def test_payload_joins_text_and_base64_binary() -> None:
    packets = [pk.message("hello"), pk.message(b"\x01\x02\x03\x04"), pk.PING]
    assert pk.encode_payload(packets) == "4hello\x1ebAQIDBA==\x1e2"


def test_decode_payload_round_trip() -> None:
    assert pk.decode_payload(b"4hello\x1ebAQIDBA==\x1e3") == [
        (4, "hello"),
        (4, b"\x01\x02\x03\x04"),
        (3, ""),
    ]


@pytest.mark.parametrize(
    "body",
    [b"", b"abc", b"9x", b"bnot-base64!", b"4ok\x1e", b"\xff\xfe"],
)
def test_malformed_payloads_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        pk.decode_payload(body)


def test_message_with_utf8_text() -> None:
    assert pk.decode_packet("4héllo €") == (4, "héllo €")
    assert pk.message("é").data == "4é"
