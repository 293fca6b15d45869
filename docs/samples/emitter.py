"""Emit to connected clients from any other process (a Celery task, a cron job) through the
servers' message queue: no server runs here."""

import socketwire

URL = "redis://127.0.0.1:6379/0"


def announce(text: str, channel: str = "socketio") -> None:
    emitter = socketwire.RedisManager(URL, channel=channel, write_only=True)
    emitter.emit("chat", {"from": "cron", "text": text}, room="lobby")
    emitter.close()
