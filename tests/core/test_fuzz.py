"""Property-based fuzzing of every decoder a client's bytes reach (hypothesis): the Engine.IO
packet and payload decoders, the Socket.IO decoder with binary attachments, the WebSocket
frame parser fed random bytes in random splits, the core's HTTP request path, and the
static-file resolver. Each may refuse its input with its documented error, never with
anything else, and never hang.

CI runs a fixed budget (the ``ci`` profile, derandomized); ``--hypothesis-profile=long``
runs 50 times as many examples, for a session of local fuzzing."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from socketwire import ws
from socketwire.engineio import packet as eio
from socketwire.engineio.core import EngineCore, PollWait, Request, Response, WebSocketAccept
from socketwire.exceptions import ProtocolError
from socketwire.socketio import packet as sio
from socketwire.socketio.core import SocketIOCore
from socketwire.transports import static

# text that looks like packets: digits, brackets, quotes, separators, and anything else
PACKET_ALPHABET = string.digits + '[]{}",:-/\\_ab\x1e' + "é\u2028\x00"
packet_text = st.one_of(
    st.text(alphabet=PACKET_ALPHABET, max_size=80),
    st.text(max_size=40),
    st.builds(
        lambda t, n, body: f"{t}{n}-{body}" if n else f"{t}{body}",
        st.sampled_from("0123456789"),
        st.integers(0, 12),
        st.text(alphabet=PACKET_ALPHABET, max_size=60),
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(packet_text)
def test_engineio_packet_decoder(text: str) -> None:
    try:
        type_, data = eio.decode_packet(text)
    except ProtocolError:
        return
    assert 0 <= type_ <= 6 and isinstance(data, (str, bytes))


@given(st.binary(max_size=200) | packet_text.map(str.encode))
def test_engineio_payload_decoder(body: bytes) -> None:
    try:
        packets = eio.decode_payload(body)
    except ProtocolError:
        return
    assert all(0 <= type_ <= 6 for type_, _ in packets)


@given(packet_text, st.integers(0, 12))
def test_socketio_decoder(text: str, max_attachments: int) -> None:
    try:
        packet = sio.decode(text, max_attachments)
    except ProtocolError:
        return
    assert 0 <= packet.type <= 6 and packet.attachments <= max_attachments


@given(
    st.sampled_from(["2", "5", "6"]),
    st.sampled_from(["", "/chat,"]),
    st.integers(0, 3),
    json_values,
    st.lists(st.binary(max_size=8), max_size=4),
)
def test_socketio_binary_reassembly(
    kind: str, nsp: str, count: int, data: Any, blobs: list[bytes]
) -> None:
    """Random placeholders and attachment counts: either a ProtocolError, or a packet
    whose placeholders are all replaced by buffers once ``count`` arrived."""
    import orjson

    text = f"{kind}{count}-{nsp}{orjson.dumps(['evt', data]).decode()}"
    if kind == "6":
        text = f"6{count}-{nsp}1{orjson.dumps([data]).decode()}"
    try:
        packet = sio.decode(text, 10)
    except ProtocolError:
        return
    for blob in blobs[:count]:
        if packet.add_attachment(blob):
            break


def _frames(draw: Any) -> bytes:
    frames = []
    for _ in range(draw(st.integers(1, 4))):
        payload = draw(st.binary(max_size=40))
        first = draw(st.integers(0, 255))
        mask = draw(st.binary(min_size=4, max_size=4))
        frames.append(bytes([first, 0x80 | len(payload)]) + mask + payload)
    return b"".join(frames)


@st.composite
def wire_bytes(draw: Any) -> tuple[bytes, list[int]]:
    data = _frames(draw) if draw(st.booleans()) else draw(st.binary(max_size=120))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    return data, cuts


@given(wire_bytes())
def test_websocket_frame_parser(case: tuple[bytes, list[int]]) -> None:
    data, cuts = case
    parser = ws.FrameParser(max_size=64)
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    try:
        for piece in pieces:
            for opcode, payload in parser.feed(piece):
                assert opcode in (ws.TEXT, ws.BINARY, ws.PING, ws.PONG, ws.CLOSE)
                assert isinstance(payload, (str, bytes))
    except ws.WebSocketError as exc:
        assert exc.code in (1002, 1007, 1009)


@given(
    st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "DELETE", "HEAD", "get", ""]),
    st.dictionaries(
        st.sampled_from(["EIO", "transport", "sid", "j", "t", "b64"]),
        st.sampled_from(["4", "3", "polling", "websocket", "", "x" * 30, "\x00"]),
        max_size=4,
    ),
    st.binary(max_size=80) | packet_text.map(str.encode),
    st.dictionaries(
        st.sampled_from(["origin", "upgrade", "connection", "accept-encoding", "cookie"]),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_core_request_path(
    method: str, query: dict[str, str], body: bytes, headers: dict[str, str]
) -> None:
    """Random requests against a real core with a Socket.IO layer on top: an HTTP answer,
    a parked poll or a WebSocket accept, never an exception."""
    core = SocketIOCore(namespace_allowed=lambda nsp: nsp == "/")
    engine: EngineCore = core.engine
    handshake = Request("GET", {"EIO": "4", "transport": "polling"}, {}, dict)
    opened = engine.handle_request(handshake, b"", 0.0)
    assert isinstance(opened, Response) and opened.status == 200
    sid = next(iter(engine.sessions))
    if query.get("sid") == "":
        query = {**query, "sid": sid}
    for now in (0.1, 0.2):
        result = engine.handle_request(Request(method, query, headers, dict), body, now)
        assert isinstance(result, (Response, PollWait, WebSocketAccept))
        if isinstance(result, Response):
            assert 200 <= result.status < 600
    engine.handle_timer(100.0)  # and the timers after it all
    core.take_events()


@given(st.text(alphabet=string.ascii_letters + "/.%2eEfF5cC0\\\x00é", max_size=40))
def test_static_resolver_never_leaves_its_folder(path: str) -> None:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        inside = os.path.join(root, "site")
        os.mkdir(inside)
        with open(os.path.join(inside, "a.txt"), "w") as f:
            f.write("a")
        with open(os.path.join(root, "secret"), "w") as f:
            f.write("s")
        for decoded in (False, True):
            found = static.resolve({"/s": inside}, path, decoded=decoded)
            if found is not None:
                real = os.path.realpath(found.path)
                assert real.startswith(os.path.realpath(inside) + os.sep), real
