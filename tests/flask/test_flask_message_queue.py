"""``SocketIO(app, message_queue=url)``: several Flask servers form one cluster through the real
Redis and RabbitMQ, and ``SocketIO(message_queue=url)`` without an app emits from any
process (Flask-SocketIO's "Emitting from an external process")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.cluster.conftest import _need

from flask import Flask
from socketwire.flask import SocketIO, emit, join_room


@pytest.fixture(params=["redis", "amqp"])
def queue_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        _need("Redis", "127.0.0.1", 6379)
        return "redis://127.0.0.1:6379/0"
    _need("RabbitMQ", "127.0.0.1", 5672)
    return "amqp://guest:guest@127.0.0.1:5672//"


def make_node(url: str, channel: str) -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    socketio = SocketIO(app, message_queue=url, channel=channel)

    @socketio.on("join")
    def join(room: str) -> str:
        join_room(room)
        return "joined"

    @socketio.on("shout")
    def shout(text: str) -> None:
        emit("news", text, to="hall")

    return app, socketio


@pytest.fixture
def cluster(queue_url: str) -> Iterator[tuple[str, str, list[tuple[Flask, SocketIO]]]]:
    channel = f"sw-flask-{uuid.uuid4().hex[:10]}"
    nodes = [make_node(queue_url, channel) for _ in range(2)]
    try:
        yield queue_url, channel, nodes
    finally:
        for _, socketio in nodes:
            assert socketio.server is not None
            socketio.server.shutdown()
            if socketio.server.manager is not None:
                socketio.server.manager.close()


def news(client: Any) -> list[Any]:
    return [item["args"][0] for item in client.get_received() if item["name"] == "news"]


def test_cluster_and_external_emitter(cluster: tuple[str, str, list[Any]]) -> None:
    url, channel, [(app1, sio1), (app2, sio2)] = cluster
    for socketio in (sio1, sio2):
        manager = socketio.server.manager
        assert manager is not None
        manager.start()
    c1, c2 = sio1.test_client(app1), sio2.test_client(app2)
    for socketio in (sio1, sio2):
        c1.wait_for(lambda s=socketio: s.server.manager.connected, 10, "subscriptions")
    assert c1.emit("join", "hall", callback=True) == "joined"
    assert c2.emit("join", "hall", callback=True) == "joined"
    # a handler on node 1 emits to a room with members on both nodes
    c1.emit("shout", "hello hall")
    c2.wait_for(lambda: "hello hall" in [i["args"][0] for i in c2.queue], 10, "cross-node")
    assert news(c1) == ["hello hall"] and news(c2) == ["hello hall"]
    # an external process: SocketIO(message_queue=...) with no app
    external = SocketIO(message_queue=url, channel=channel)
    external.emit("news", "from celery", to="hall")
    for client in (c1, c2):
        client.wait_for(
            lambda c=client: any(i["args"] == ["from celery"] for i in c.queue),
            10,
            "the external emit",
        )
    assert news(c1) == ["from celery"] and news(c2) == ["from celery"]
    # another channel never reaches this app
    stranger = SocketIO(message_queue=url, channel=channel + "-other")
    stranger.emit("news", "wrong app")
    external.emit("news", "fence")
    c1.wait_for(lambda: any(i["args"] == ["fence"] for i in c1.queue), 10, "the fence")
    assert news(c1) == ["fence"]
    external._emitter.close()
    stranger._emitter.close()
