"""AMQP managers (RabbitMQ): :class:`AsyncAioPikaManager` (aio-pika, for ``AsyncServer``)
and :class:`KombuManager` (kombu, for ``Server`` and for emitters in other processes).

The layout is python-socketio's: a non-durable fanout exchange named after the channel; every
listening node binds an exclusive, auto-deleted queue of its own to it, so each node receives
every message once. Publishes wait for RabbitMQ's confirmation (publisher confirms), so a
message the broker did not take is retried by the publisher (see
:mod:`socketwire.managers.base` for the queueing and reconnection rules). An exclusive queue
dies with its connection: what other nodes publish while this node is disconnected is lost
for this node's clients, exactly as with Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .base import AsyncManager, ThreadManager

__all__ = ["AsyncAioPikaManager", "KombuManager"]

DEFAULT_URL = "amqp://guest:guest@localhost:5672//"


def _queue_name(channel: str) -> str:
    return f"{channel}.{uuid.uuid4().hex}"


class AsyncAioPikaManager(AsyncManager):
    """Cluster messages over RabbitMQ with aio-pika, for :class:`socketwire.AsyncServer`."""

    name = "aio-pika"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        channel: str = "socketio",
        write_only: bool = False,
        logger: logging.Logger | None = None,
        queue_size: int = 1000,
    ) -> None:
        super().__init__(url, channel, write_only, logger, queue_size)
        self._pub_connection: Any = None
        self._pub_exchange: Any = None

    async def _exchange(self, connection: Any) -> Any:
        import aio_pika

        amqp_channel = await connection.channel()  # publisher confirms on (aio-pika's default)
        return await amqp_channel.declare_exchange(
            self.channel, aio_pika.ExchangeType.FANOUT, durable=False
        )

    async def _publish(self, data: bytes) -> None:
        import aio_pika

        try:
            if self._pub_exchange is None:
                self._pub_connection = await aio_pika.connect(self.url, timeout=10)
                self._pub_exchange = await self._exchange(self._pub_connection)
            message = aio_pika.Message(
                data,
                content_type="application/msgpack",
                delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
            )
            await asyncio.wait_for(self._pub_exchange.publish(message, routing_key=""), 10)
        except BaseException:
            await self._drop_publisher()
            raise

    async def _drop_publisher(self) -> None:
        connection, self._pub_connection, self._pub_exchange = self._pub_connection, None, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), 2)
            except BaseException:
                pass

    async def _subscribe(self) -> AsyncIterator[bytes]:
        import aio_pika

        inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        connection = await aio_pika.connect(self.url, timeout=10)
        try:
            connection.close_callbacks.add(lambda *args: inbox.put_nowait(None))
            amqp_channel = await connection.channel(publisher_confirms=False)
            amqp_channel.close_callbacks.add(lambda *args: inbox.put_nowait(None))
            exchange = await amqp_channel.declare_exchange(
                self.channel, aio_pika.ExchangeType.FANOUT, durable=False
            )
            queue = await amqp_channel.declare_queue(
                _queue_name(self.channel), exclusive=True, auto_delete=True
            )
            await queue.bind(exchange)

            async def on_message(message: Any) -> None:
                inbox.put_nowait(message.body)

            await queue.consume(on_message, no_ack=True)
            yield b""  # subscribed
            while True:
                data = await inbox.get()
                if data is None:
                    raise ConnectionError("the AMQP connection closed")
                yield data
        finally:
            try:
                await asyncio.wait_for(connection.close(), 2)
            except BaseException:
                pass

    async def _close(self) -> None:
        await self._drop_publisher()


class KombuManager(ThreadManager):
    """Cluster messages over RabbitMQ (or any kombu transport) for :class:`socketwire.Server`
    (threads), and the write-only emitter for other processes (Celery tasks, scripts)."""

    name = "kombu"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        channel: str = "socketio",
        write_only: bool = False,
        logger: logging.Logger | None = None,
        connection_options: dict[str, Any] | None = None,
        exchange_options: dict[str, Any] | None = None,
        queue_options: dict[str, Any] | None = None,
        producer_options: dict[str, Any] | None = None,
        queue_size: int = 1000,
    ) -> None:
        super().__init__(url, channel, write_only, logger, queue_size)
        options = dict(connection_options or {})
        # a publish returns once RabbitMQ has taken the message (else it is retried)
        options["transport_options"] = {
            "confirm_publish": True,
            **options.get("transport_options", {}),
        }
        options.setdefault("connect_timeout", 10)
        self.connection_options = options
        self.exchange_options = {"type": "fanout", "durable": False, **(exchange_options or {})}
        self.queue_options = {
            "exclusive": True,
            "auto_delete": True,
            "durable": False,
            **(queue_options or {}),
        }
        self.producer_options = dict(producer_options or {})
        self._pub_connection: Any = None
        self._producer: Any = None

    def _connection(self) -> Any:
        kombu: Any = importlib.import_module("kombu")
        return kombu.Connection(self.url, **self.connection_options)

    def _exchange(self) -> Any:
        kombu: Any = importlib.import_module("kombu")
        return kombu.Exchange(self.channel, **self.exchange_options)

    def _publish(self, data: bytes) -> None:
        try:
            if self._producer is None:
                self._pub_connection = self._connection()
                self._pub_connection.ensure_connection(max_retries=1)
                self._producer = self._pub_connection.Producer(**self.producer_options)
                self._producer.declare()
            exchange = self._exchange()
            self._producer.publish(
                data,
                exchange=exchange,
                routing_key="",
                declare=[exchange],
                content_type="application/msgpack",
                content_encoding="binary",
                delivery_mode=1,
                retry=False,
            )
        except BaseException:
            self._drop_publisher()
            raise

    def _drop_publisher(self) -> None:
        connection, self._pub_connection, self._producer = self._pub_connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                pass

    def _subscribe(self) -> Iterator[bytes]:
        kombu: Any = importlib.import_module("kombu")
        connection = self._connection()
        received: collections.deque[bytes] = collections.deque()

        def on_message(message: Any) -> None:
            received.append(message.body)

        try:
            connection.ensure_connection(max_retries=1)
            queue = kombu.Queue(
                _queue_name(self.channel), self._exchange(), routing_key="", **self.queue_options
            )
            consumer = connection.Consumer(
                [queue], on_message=on_message, no_ack=True, accept=["application/msgpack"]
            )
            consumer.consume()
            yield b""  # subscribed
            heartbeat = bool(connection.heartbeat)
            while not self._stopping:
                try:
                    connection.drain_events(timeout=1.0)
                except TimeoutError:
                    if heartbeat:
                        connection.heartbeat_check()
                while received:
                    yield received.popleft()
        finally:
            try:
                connection.release()
            except Exception:
                pass

    def _close(self) -> None:
        self._drop_publisher()
