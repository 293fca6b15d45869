"""Message-queue managers (python-socketio's names): pass one as ``client_manager=`` to a
server to join a cluster, or use one with ``write_only=True`` to emit from any process."""

from __future__ import annotations

from .base import AsyncManager, ManagerBase, ThreadManager
from .redis import AsyncRedisManager, RedisManager

__all__ = ["AsyncManager", "AsyncRedisManager", "ManagerBase", "RedisManager", "ThreadManager"]
