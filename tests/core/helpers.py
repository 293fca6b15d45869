"""Drive the sans-I/O cores by hand: requests in, bytes and events out, time as a number."""

from __future__ import annotations

from typing import Any

import orjson

from socketwire._timers import Timer
from socketwire.engineio.core import (
    DisconnectReason,
    EngineCore,
    PollWait,
    Request,
    Response,
    Session,
    WebSocketAccept,
)
from socketwire.engineio.packet import encode_payload


def request(method: str = "GET", headers: dict[str, str] | None = None, **query: str) -> Request:
    return Request(method, query, headers or {}, lambda: {"REQUEST_METHOD": method})


class Recorder:
    """An EngineListener that records what the core reports."""

    def __init__(self) -> None:
        self.opened: list[Session] = []
        self.messages: list[tuple[str, str | bytes]] = []
        self.closed: list[tuple[str, DisconnectReason]] = []

    def on_open(self, session: Session) -> None:
        self.opened.append(session)

    def on_message(self, session: Session, data: str | bytes) -> None:
        self.messages.append((session.sid, data))

    def on_close(self, session: Session, reason: DisconnectReason) -> None:
        self.closed.append((session.sid, reason))

    def on_timer(self, timer: Timer) -> None:
        raise AssertionError("unexpected timer")


def handshake(engine: EngineCore, now: float = 0.0) -> tuple[Session, dict[str, Any]]:
    result = engine.handle_request(request(EIO="4", transport="polling"), b"", now)
    assert isinstance(result, Response) and result.status == 200, result
    body = result.body.decode()
    assert body[0] == "0"
    info = orjson.loads(body[1:])
    return engine.sessions[info["sid"]], info


def poll(engine: EngineCore, session: Session, now: float) -> Response | PollWait:
    result = engine.handle_request(request(EIO="4", transport="polling", sid=session.sid), b"", now)
    assert not isinstance(result, WebSocketAccept)
    return result


def post(engine: EngineCore, session: Session, body: bytes | str, now: float) -> Response:
    if isinstance(body, str):
        body = body.encode()
    result = engine.handle_request(
        request("POST", EIO="4", transport="polling", sid=session.sid), body, now
    )
    assert isinstance(result, Response)
    return result


def outbox_text(session: Session) -> str:
    return encode_payload(session.outbox)
