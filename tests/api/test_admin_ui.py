"""``sio.instrument(...)``: the Socket.IO Admin UI's server side, on ``AsyncServer`` and on the
threaded ``Server``. A python-socketio ``AsyncClient`` plays the admin UI on ``/admin`` (the
events and operations of socketio/socket.io-admin-ui's ``lib/typed-events.ts``) while other
real clients connect, send events, join rooms and get disconnected."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
import socketio

import socketwire
from socketwire.admin import Instrumentation

from .test_async_server_api import WAIT, client, collector, eventually, get, running

KINDS = ["async", "threads"]
CREDENTIALS = {"username": "admin", "password": "secret"}
OTHER_CREDENTIALS = {"username": "ops", "password": "hunter2"}
OPERATIONS = {"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"}
INTERVAL = 0.2


def make_server(kind: str, **options: Any) -> Any:
    if kind == "async":
        return socketwire.AsyncServer(**options)
    # one event at a time per client, in order: an operation then a probe, as sent
    return socketwire.Server(async_handlers=False, **options)


async def done(result: Any) -> None:
    """Await what AsyncServer returns; Server has acted already."""
    if inspect.isawaitable(result):
        await result


def add_probe(sio: Any) -> None:
    """``probe(sid)`` on the admin namespace answers the rooms of ``sid``: an admin that
    sends an operation and then a probe learns what the operation did."""
    sio.on("probe", lambda admin_sid, sid: sio.rooms(sid), namespace="/admin")


class Admin:
    """A python-socketio client on ``/admin`` that records every event it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, tuple[Any, ...]]] = []
        self.changed = asyncio.Event()

        @self.client.on("*", namespace="/admin")
        def record(event: str, *args: Any) -> None:
            self.received.append((event, args))
            self.changed.set()

    def count(self, event: str) -> int:
        return sum(1 for name, _ in self.received if name == event)

    async def _until(self, found: Callable[[], Any], what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            result = found()
            if result is not None:
                return result
            self.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = [name for name, _ in self.received]
                raise AssertionError(f"timed out waiting for {what}; received {names}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def wait(
        self, event: str, match: Callable[[tuple[Any, ...]], bool] = lambda args: True
    ) -> tuple[Any, ...]:
        """The arguments of the first ``event`` received (or to come) that ``match``."""

        def found() -> tuple[Any, ...] | None:
            for name, args in self.received:
                if name == event and match(args):
                    return args
            return None

        result: tuple[Any, ...] = await self._until(found, event)
        return result

    async def wait_count(self, event: str, count: int) -> None:
        await self._until(lambda: True if self.count(event) >= count else None, f"{count} {event}")

    async def operation(self, name: str, *args: Any) -> None:
        await self.client.emit(name, args, namespace="/admin")

    async def probe(self, sid: str) -> list[str]:
        rooms: list[str] = await self.client.call("probe", sid, namespace="/admin", timeout=WAIT)
        return rooms


@contextlib.asynccontextmanager
async def admin_ui(url: str, auth: Any) -> AsyncIterator[Admin]:
    admin = Admin()
    await admin.client.connect(
        url, namespaces=["/admin"], auth=auth, transports=["websocket"], wait_timeout=WAIT
    )
    try:
        yield admin
    finally:
        await admin.client.disconnect()


async def refusal(url: str, auth: Any) -> Any:
    """Connect to ``/admin`` with ``auth``, expecting a refusal; returns its CONNECT_ERROR."""
    c = socketio.AsyncClient(reconnection=False)
    errors = collector(c, "connect_error", namespace="/admin")
    configs = collector(c, "config", namespace="/admin")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(
            url, namespaces=["/admin"], auth=auth, transports=["websocket"], wait_timeout=WAIT
        )
    error = await get(errors)
    await c.disconnect()
    assert configs.empty()
    return error


def is_timestamp(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


@pytest.mark.parametrize("kind", KINDS)
async def test_admin_gets_config_stats_sockets_and_a_session(kind: str) -> None:
    sio = make_server(kind)
    instrumentation = sio.instrument(
        auth=CREDENTIALS, server_id="node-1", server_stats_interval=INTERVAL
    )
    assert isinstance(instrumentation, Instrumentation)

    async with running(sio) as url, client(url) as other, admin_ui(url, CREDENTIALS) as admin:
        sid = other.get_sid()
        (config,) = await admin.wait("config")
        assert set(config["supportedFeatures"]) == OPERATIONS | {"AGGREGATED_EVENTS", "ALL_EVENTS"}

        (sockets,) = await admin.wait("all_sockets")
        (mine,) = [s for s in sockets if s["id"] == sid]
        assert mine["nsp"] == "/"
        assert mine["transport"] == "websocket"
        assert mine["rooms"] == [sid]
        assert mine["handshake"]["query"]["EIO"] == "4"
        assert mine["handshake"]["address"] == "127.0.0.1"

        (stats,) = await admin.wait("server_stats")
        assert stats["serverId"] == "node-1"
        assert stats["pid"] == os.getpid()
        assert stats["clientsCount"] == 2
        assert stats["pollingClientsCount"] == 0
        assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
        assert {"name": "/admin", "socketsCount": 1} in stats["namespaces"]
        # and then every INTERVAL
        await admin.wait_count("server_stats", 3)

        # the session token the UI keeps logs it in again without the password
        (token,) = await admin.wait("session")
        async with admin_ui(url, {"sessionId": token}) as again:
            await again.wait("config")
            assert again.count("session") == 0


@pytest.mark.parametrize("transport", ["polling", "websocket"])
@pytest.mark.parametrize("kind", KINDS)
async def test_admin_sees_connections_events_rooms_and_disconnections(
    kind: str, transport: str
) -> None:
    sio = make_server(kind)
    sio.instrument(auth=False, server_stats_interval=INTERVAL)
    if kind == "async":

        async def enter(sid: str, room: str) -> None:
            await sio.enter_room(sid, room)
            await sio.emit("entered", room, to=room)

    else:

        def enter(sid: str, room: str) -> None:
            sio.enter_room(sid, room)
            sio.emit("entered", room, to=room)

    sio.on("enter", enter)

    async with running(sio) as url, admin_ui(url, False) as admin:
        await admin.wait("config")
        async with client(url, transports=[transport]) as other:
            sid = other.get_sid()
            (socket, when) = await admin.wait("socket_connected", lambda a: a[0]["id"] == sid)
            assert socket["nsp"] == "/"
            assert socket["transport"] == transport
            assert socket["rooms"] == [sid]
            assert is_timestamp(when)

            entered = collector(other, "entered")
            await other.emit("enter", "lobby")
            assert await get(entered) == "lobby"
            received = await admin.wait("event_received", lambda a: a[1] == sid)
            assert received[:3] == ("/", sid, ["enter", "lobby"])
            assert is_timestamp(received[3])
            joined = await admin.wait("room_joined", lambda a: a[2] == sid)
            assert joined[:3] == ("/", "lobby", sid)
            sent = await admin.wait("event_sent", lambda a: a[1] == sid)
            assert sent[:3] == ("/", sid, ["entered", "lobby"])
            (stats,) = await admin.wait("server_stats", lambda a: a[0]["clientsCount"] == 2)
            assert stats["pollingClientsCount"] == (transport == "polling")
        gone = await admin.wait("socket_disconnected", lambda a: a[1] == sid)
        assert gone[0] == "/"
        assert gone[2] in ("client disconnect", "transport close")
        assert is_timestamp(gone[3])
        # nothing about the admin namespace's own events
        assert all(a[0] != "/admin" for name, a in admin.received if name == "event_received")


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_credentials_are_refused(kind: str) -> None:
    sio = make_server(kind)
    sio.instrument(auth=[CREDENTIALS, OTHER_CREDENTIALS], server_stats_interval=INTERVAL)
    async with running(sio) as url:
        for wrong in (
            {"username": "admin", "password": "wrong"},
            {"username": "admin"},
            {**CREDENTIALS, "extra": "x"},
            {"sessionId": "forged"},
            None,
        ):
            assert await refusal(url, wrong) == {"message": "invalid credentials"}
        async with admin_ui(url, OTHER_CREDENTIALS) as admin:
            await admin.wait("config")


@pytest.mark.parametrize("kind", ["async", "async-callable", "threads"])
async def test_auth_callable(kind: str) -> None:
    sio = make_server("threads" if kind == "threads" else "async")
    seen: list[Any] = []
    if kind == "async-callable":

        async def check(auth: Any) -> bool:
            await asyncio.sleep(0)
            seen.append(auth)
            return bool(auth == {"token": "let-me-in"})

    else:

        def check(auth: Any) -> bool:
            seen.append(auth)
            return bool(auth == {"token": "let-me-in"})

    sio.instrument(auth=check, server_stats_interval=INTERVAL)
    async with running(sio) as url:
        assert await refusal(url, {"token": "nope"}) == {"message": "invalid credentials"}
        async with admin_ui(url, {"token": "let-me-in"}) as admin:
            await admin.wait("config")
    assert seen == [{"token": "nope"}, {"token": "let-me-in"}]


@pytest.mark.parametrize("kind", KINDS)
async def test_read_only_refuses_operations(kind: str) -> None:
    sio = make_server(kind)
    sio.instrument(auth=False, read_only=True, server_stats_interval=INTERVAL)
    add_probe(sio)
    async with running(sio) as url, client(url) as other, admin_ui(url, False) as admin:
        sid = other.get_sid()
        (config,) = await admin.wait("config")
        assert config["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        hello = collector(other, "hello")
        marker = collector(other, "marker")

        await admin.operation("join", "/", "vip", sid)
        await admin.operation("emit", "/", sid, "hello", 1)
        await admin.operation("_disconnect", "/", False, sid)
        assert await admin.probe(sid) == [sid]  # no "vip"
        # sent after the operations were refused: were "hello" sent, it would come first;
        # were the client disconnected, the marker would never come
        await done(sio.emit("marker", to=sid))
        await get(marker)
        assert hello.empty()
        assert other.connected


@pytest.mark.parametrize("kind", KINDS)
async def test_operations_act_on_real_clients(kind: str) -> None:
    sio = make_server(kind)
    sio.instrument(auth=False, server_stats_interval=INTERVAL)
    add_probe(sio)
    async with (
        running(sio) as url,
        client(url) as other,
        client(url) as bystander,
        admin_ui(url, False) as admin,
    ):
        sid, bystander_sid = other.get_sid(), bystander.get_sid()
        await admin.wait("config")
        hello = collector(other, "hello")
        bystander_hello = collector(bystander, "hello")
        disconnected = asyncio.Event()
        other.on("disconnect", lambda *args: disconnected.set())

        # join, with the sid as the filter
        await admin.operation("join", "/", "vip", sid)
        joined = await admin.wait("room_joined", lambda a: a[1] == "vip")
        assert joined[:3] == ("/", "vip", sid)
        assert "vip" in await admin.probe(sid)
        assert "vip" not in await admin.probe(bystander_sid)

        # emit to a room, then to the whole namespace (no filter)
        await admin.operation("emit", "/", "vip", "hello", 1, "two")
        assert await get(hello) == (1, "two")
        await admin.operation("emit", "/", None, "hello", "all")
        assert await get(hello) == "all"
        assert await get(bystander_hello) == "all"  # the first it got: not the room's
        sent = await admin.wait("event_sent", lambda a: a[2] == ["hello", 1, "two"])
        assert sent[:2] == ("/", sid)

        # leave
        await admin.operation("leave", "/", "vip", sid)
        left = await admin.wait("room_left", lambda a: a[1] == "vip")
        assert left[:3] == ("/", "vip", sid)
        assert "vip" not in await admin.probe(sid)

        # join without a filter: every socket of the namespace
        await admin.operation("join", "/", "everyone")
        assert "everyone" in await admin.probe(sid)
        assert "everyone" in await admin.probe(bystander_sid)

        # disconnect one client
        await admin.operation("_disconnect", "/", False, sid)
        gone = await admin.wait("socket_disconnected", lambda a: a[1] == sid)
        assert gone[:3] == ("/", sid, "server disconnect")
        await asyncio.wait_for(disconnected.wait(), WAIT)
        assert bystander.connected
        assert sorted(await admin.probe(bystander_sid)) == sorted([bystander_sid, "everyone"])


@pytest.mark.parametrize("kind", KINDS)
async def test_disconnect_with_close_ends_the_whole_connection(kind: str) -> None:
    sio = make_server(kind, namespaces=["/chat"])
    sio.instrument(auth=False, server_stats_interval=INTERVAL)
    async with running(sio) as url, admin_ui(url, False) as admin:
        await admin.wait("config")
        c = socketio.AsyncClient(reconnection=False)
        await c.connect(url, namespaces=["/", "/chat"], transports=["websocket"], wait_timeout=WAIT)
        root, chat = c.get_sid("/"), c.get_sid("/chat")
        await admin.operation("_disconnect", "/", True, root)
        for nsp, sid in (("/", root), ("/chat", chat)):
            gone = await admin.wait("socket_disconnected", lambda a, sid=sid: a[1] == sid)
            assert gone[:3] == (nsp, sid, "server disconnect")
        await eventually(lambda: not c.connected, "the client to see its connection end")


@pytest.mark.parametrize("kind", KINDS)
async def test_production_mode_reports_stats_only(kind: str) -> None:
    sio = make_server(kind)
    sio.instrument(auth=False, mode="production", server_stats_interval=INTERVAL)
    async with running(sio) as url, admin_ui(url, False) as admin:
        (config,) = await admin.wait("config")
        assert set(config["supportedFeatures"]) == OPERATIONS | {"AGGREGATED_EVENTS"}
        async with client(url) as other:
            await other.emit("anything", 1)

            def counted(args: tuple[Any, ...]) -> bool:
                stats = args[0]
                kinds = {e["type"] for e in stats["aggregatedEvents"]}
                return bool(stats["clientsCount"] == 2 and "rawConnection" in kinds)

            await admin.wait("server_stats", counted)
            # one tick more: what development mode would have reported is out by now
            await admin.wait_count("server_stats", admin.count("server_stats") + 1)
    assert {name for name, _ in admin.received} == {"config", "server_stats"}


async def test_stop_closes_the_admin_namespace() -> None:
    sio = make_server("async")
    instrumentation = sio.instrument(auth=False, server_stats_interval=INTERVAL)
    async with running(sio) as url:
        async with admin_ui(url, False) as admin:
            await admin.wait("config")
        instrumentation.stop()
        assert await refusal(url, None) == {"message": "Invalid namespace"}
        assert sio._monitor is None


@pytest.mark.parametrize("kind", KINDS)
def test_instrument_checks_its_arguments(kind: str) -> None:
    sio = make_server(kind)
    with pytest.raises(ValueError, match="auth"):
        sio.instrument()
    with pytest.raises(TypeError, match="auth"):
        sio.instrument(auth="secret")
    with pytest.raises(ValueError, match="empty"):
        sio.instrument(auth={})
    with pytest.raises(ValueError, match="mode"):
        sio.instrument(auth=False, mode="debug")
    with pytest.raises(ValueError, match="interval"):
        sio.instrument(auth=False, server_stats_interval=0)

    async def check(auth: Any) -> bool:
        return True

    if kind == "threads":
        with pytest.raises(TypeError, match="async"):
            sio.instrument(auth=check)
    else:
        sio.instrument(auth=check)
