"""Redis pub/sub managers (redis-py): ``redis://``, ``rediss://`` (TLS), ``unix://`` and
``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]`` URLs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import unquote, urlparse

from .base import AsyncManager, ThreadManager

__all__ = ["AsyncRedisManager", "RedisManager"]


def _sentinel_args(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """``redis+sentinel://:pw@h1:26379,h2:26379/mymaster/0`` -> sentinels, service, options."""
    parsed = urlparse(url)
    netloc = parsed.netloc
    options: dict[str, Any] = {}
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        username, _, password = credentials.partition(":")
        if username:
            options["username"] = unquote(username)
        if password:
            options["password"] = unquote(password)
    sentinels = []
    for item in netloc.split(","):
        host, _, port = item.partition(":")
        sentinels.append((host, int(port or 26379)))
    parts = [p for p in parsed.path.split("/") if p]
    if not parts:
        raise ValueError("a redis+sentinel:// URL needs the service name as its path")
    if len(parts) > 1:
        options["db"] = int(parts[1])
    return sentinels, parts[0], options


def _client(url: str, redis_options: dict[str, Any], redis_cls: Any, sentinel_cls: Any) -> Any:
    """A client for ``url`` from redis-py's sync or asyncio classes (same arguments)."""
    options = {"health_check_interval": 10, "socket_keepalive": True, **redis_options}
    if url.startswith("redis+sentinel://"):
        sentinels, service, extra = _sentinel_args(url)
        return sentinel_cls(sentinels, **extra).master_for(service, **options)
    return redis_cls.from_url(url, **options)


class AsyncRedisManager(AsyncManager):
    """Cluster messages over Redis pub/sub, for :class:`socketwire.AsyncServer`."""

    name = "redis"

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: str = "socketio",
        write_only: bool = False,
        logger: logging.Logger | None = None,
        redis_options: dict[str, Any] | None = None,
        queue_size: int = 1000,
    ) -> None:
        super().__init__(url, channel, write_only, logger, queue_size)
        self.redis_options = dict(redis_options or {})
        self._publisher_client: Any = None

    def _connect(self) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.sentinel import Sentinel

        return _client(self.url, self.redis_options, aioredis.Redis, Sentinel)

    async def _publish(self, data: bytes) -> None:
        if self._publisher_client is None:
            self._publisher_client = self._connect()
        try:
            await self._publisher_client.publish(self.channel, data)
        except Exception:
            client, self._publisher_client = self._publisher_client, None
            try:
                await client.aclose()
            except Exception:
                pass
            raise

    async def _publish_batch(self, batch: list[bytes]) -> None:
        if len(batch) == 1:
            await self._publish(batch[0])
            return
        if self._publisher_client is None:
            self._publisher_client = self._connect()
        try:
            pipe = self._publisher_client.pipeline(transaction=False)
            for data in batch:
                pipe.publish(self.channel, data)
            await pipe.execute()
        except Exception:
            client, self._publisher_client = self._publisher_client, None
            try:
                await client.aclose()
            except Exception:
                pass
            raise

    async def _subscribe(self) -> AsyncIterator[bytes]:
        client = self._connect()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            yield b""  # subscribed
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    await pubsub.ping()  # notice a dead connection while idle
                    continue
                if message.get("type") == "message":
                    data = message["data"]
                    yield data if isinstance(data, bytes) else str(data).encode()
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:
                pass

    async def _close(self) -> None:
        if self._publisher_client is not None:
            await self._publisher_client.aclose()
            self._publisher_client = None


class RedisManager(ThreadManager):
    """Cluster messages over Redis pub/sub, for :class:`socketwire.Server` (threads), and
    the write-only emitter for other processes (Celery tasks, scripts)."""

    name = "redis"

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: str = "socketio",
        write_only: bool = False,
        logger: logging.Logger | None = None,
        redis_options: dict[str, Any] | None = None,
        queue_size: int = 1000,
    ) -> None:
        super().__init__(url, channel, write_only, logger, queue_size)
        self.redis_options = dict(redis_options or {})
        self._publisher_client: Any = None
        self._pubsub: Any = None

    def _connect(self) -> Any:
        import redis
        from redis.sentinel import Sentinel

        return _client(self.url, self.redis_options, redis.Redis, Sentinel)

    def _publish(self, data: bytes) -> None:
        if self._publisher_client is None:
            self._publisher_client = self._connect()
        try:
            self._publisher_client.publish(self.channel, data)
        except Exception:
            client, self._publisher_client = self._publisher_client, None
            try:
                client.close()
            except Exception:
                pass
            raise

    def _publish_batch(self, batch: list[bytes]) -> None:
        if len(batch) == 1:
            self._publish(batch[0])
            return
        if self._publisher_client is None:
            self._publisher_client = self._connect()
        try:
            pipe = self._publisher_client.pipeline(transaction=False)
            for data in batch:
                pipe.publish(self.channel, data)
            pipe.execute()
        except Exception:
            client, self._publisher_client = self._publisher_client, None
            try:
                client.close()
            except Exception:
                pass
            raise

    def _subscribe(self) -> Iterator[bytes]:
        client = self._connect()
        pubsub = self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            yield b""  # subscribed
            while not self._stopping:
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message.get("type") == "message":
                    data = message["data"]
                    yield data if isinstance(data, bytes) else str(data).encode()
        finally:
            try:
                pubsub.close()
                client.close()
            except Exception:
                pass

    def _close(self) -> None:
        if self._publisher_client is not None:
            self._publisher_client.close()
            self._publisher_client = None
