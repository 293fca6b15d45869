"""A Sanic app as python-socketio's Sanic example writes it (``async_mode='sanic'``,
``sio.attach(app)``, a background task started from a listener, ``app.run()``), on
socketwire.

    python sanic_app.py PORT [REDIS_CHANNEL]"""

import os
import sys

from sanic import Sanic
from sanic.response import text

import socketwire as socketio

# SW_REDIS_CHANNEL: a Redis message queue, as python-socketio's docs add one
_channel = os.environ.get("SW_REDIS_CHANNEL")
_manager = (
    socketio.AsyncRedisManager("redis://127.0.0.1:6379/0", channel=_channel) if _channel else None
)
sio = socketio.AsyncServer(
    async_mode="sanic", max_http_buffer_size=100_000, client_manager=_manager
)
app = Sanic(name="sanic_application")
app.config["CORS_SUPPORTS_CREDENTIALS"] = True
sio.attach(app)


async def background_task() -> None:
    count = 0
    while True:
        await sio.sleep(0.2)
        count += 1
        await sio.emit("tick", {"count": count})


@app.listener("before_server_start")
def before_server_start(sanic: Sanic, loop: object) -> None:
    sio.start_background_task(background_task)


@app.route("/")
async def index(request: object) -> object:
    return text("sanic page")


@sio.event
async def connect(sid: str, environ: dict, auth: object) -> None:
    await sio.enter_room(sid, "all")
    await sio.emit("welcome", {"auth": auth}, to=sid)


@sio.event
async def echo(sid: str, data: object) -> object:
    return data


@sio.event
async def shout(sid: str, data: object) -> None:
    await sio.emit("shouted", data, room="all")


@sio.event
async def ask(sid: str) -> object:
    return await sio.call("question", "ready?", to=sid, timeout=5)


@sio.event
def disconnect(sid: str, reason: str) -> None:
    print("disconnect", reason, flush=True)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
