"""``Server`` and ``AsyncServer`` offer the same public API: the same names, and for each
method the same parameters (names, kinds, defaults). Only ``async`` differs, where the
operation is a coroutine in python-socketio's AsyncServer."""

from __future__ import annotations

import inspect
import logging

import pytest

import socketwire

# what is awaited on AsyncServer (python-socketio's AsyncServer makes these coroutines)
COROUTINES = {
    "emit",
    "send",
    "call",
    "enter_room",
    "leave_room",
    "close_room",
    "get_session",
    "save_session",
    "disconnect",
    "shutdown",
    "sleep",
    "fetch_sockets",
    "emit_with_ack",
    "sockets_join",
    "sockets_leave",
    "disconnect_sockets",
    "handle_request",
}


# aiohttp is an asyncio framework: only AsyncServer attaches to it (as in python-socketio)
ASYNC_ONLY = {"attach"}
# the request each framework hands over: WSGI (environ, start_response) or ASGI (scope, ...)
OWN_SIGNATURE = {"handle_request"}


def public(cls: type) -> dict[str, object]:
    return {
        name: getattr(cls, name)
        for name in dir(cls)
        if not name.startswith("_") and name not in ASYNC_ONLY
    }


def test_same_public_names() -> None:
    assert set(public(socketwire.Server)) == set(public(socketwire.AsyncServer))


@pytest.mark.parametrize("name", sorted(public(socketwire.AsyncServer)))
def test_same_signature(name: str) -> None:
    sync = getattr(socketwire.Server, name)
    async_ = getattr(socketwire.AsyncServer, name)
    if not callable(sync) or name in OWN_SIGNATURE:
        return
    sync_params = inspect.signature(sync).parameters
    async_params = inspect.signature(async_).parameters
    assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
        (p.name, p.kind, p.default) for p in async_params.values()
    ]
    assert inspect.iscoroutinefunction(async_) == (name in COROUTINES)
    assert not inspect.iscoroutinefunction(sync)


def test_constructors_take_the_same_options() -> None:
    sync = inspect.signature(socketwire.Server).parameters
    async_ = inspect.signature(socketwire.AsyncServer).parameters
    # the threaded runtime's own options (its worker pool and per-client queues)
    only_sync = {"handler_threads", "async_mode", "handler_stall"}
    assert {n: (p.kind, p.default) for n, p in async_.items()} == {
        n: (p.kind, p.default) for n, p in sync.items() if n not in only_sync
    }


def test_namespaces_share_one_class_body() -> None:
    assert issubclass(socketwire.AsyncNamespace, socketwire.Namespace)
    overridden = {
        name for name, value in vars(socketwire.AsyncNamespace).items() if not name.startswith("__")
    }
    assert overridden == {"trigger_event"}


def test_unsupported_options_are_refused_clearly(caplog: pytest.LogCaptureFixture) -> None:
    for cls in (socketwire.Server, socketwire.AsyncServer):
        with pytest.raises(ValueError, match="msgpack"):
            cls(serializer="msgpack")
        # python-engineio ignores options it does not know (documented): warn, keep serving
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="socketwire"):
            cls(no_such_option=1)
        assert "no_such_option" in caplog.text
        cls(serializer="default", json=None, async_mode=None, monitor_clients=True)
