"""Brokers for the cluster tests: the real Redis and RabbitMQ on this machine.

Without a broker the tests that need it are skipped and say why; under CI (``CI=true``)
they fail instead, so a missing broker can never pass silently."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

REDIS_URL = os.environ.get("SOCKETWIRE_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("SOCKETWIRE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _need(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}; these tests need a real {name}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI must not skip them)")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    _need("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def amqp_url() -> str:
    _need("RabbitMQ", "127.0.0.1", 5672)
    return AMQP_URL


@pytest.fixture
def channel() -> str:
    """A channel of its own per test, so tests never hear each other."""
    return f"sw-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["redis", "amqp"])
def mq_url(request: pytest.FixtureRequest) -> str:
    """The URL of each real broker in turn (skipped, or failed under CI, as above)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
