"""Message-queue managers (python-socketio's names): pass one as ``client_manager=`` to a
server to join a cluster, or use one with ``write_only=True`` to emit from any process."""

from __future__ import annotations

import logging
from typing import Any

from .amqp import AsyncAioPikaManager, KombuManager
from .base import AsyncManager, ManagerBase, ThreadManager
from .redis import AsyncRedisManager, RedisManager

__all__ = [
    "AsyncAioPikaManager",
    "AsyncManager",
    "AsyncRedisManager",
    "KombuManager",
    "ManagerBase",
    "RedisManager",
    "ThreadManager",
    "from_url",
]

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")
AMQP_SCHEMES = ("amqp", "amqps")


def from_url(
    url: str,
    channel: str = "socketio",
    write_only: bool = False,
    asyncio: bool = True,
    logger: logging.Logger | None = None,
    **options: Any,
) -> ManagerBase:
    """The manager for a message-queue URL, as Flask-SocketIO's ``message_queue=``:
    ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://`` -> Redis pub/sub;
    ``amqp://``, ``amqps://`` -> RabbitMQ. ``asyncio`` picks the asyncio manager
    (:class:`AsyncRedisManager`, :class:`AsyncAioPikaManager`) or the threaded one
    (:class:`RedisManager`, :class:`KombuManager`); ``options`` go to its constructor."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    cls: type[ManagerBase]
    if scheme in REDIS_SCHEMES:
        cls = AsyncRedisManager if asyncio else RedisManager
    elif scheme in AMQP_SCHEMES:
        cls = AsyncAioPikaManager if asyncio else KombuManager
    else:
        raise ValueError(
            f"unsupported message queue URL {url!r}: expected one of "
            + ", ".join(f"{s}://" for s in REDIS_SCHEMES + AMQP_SCHEMES)
        )
    return cls(url, channel=channel, write_only=write_only, logger=logger, **options)
