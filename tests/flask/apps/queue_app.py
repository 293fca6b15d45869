"""A Flask-SocketIO app with a message queue, started as the documents start it under green
threads (the message queue client then runs on patched sockets):

    python queue_app.py gevent|eventlet PORT      (monkey-patched first, socketio.run)
    uwsgi --http :PORT --gevent 1000 ... --wsgi-file queue_app.py --callable app

``SW_QUEUE_URL`` and ``SW_QUEUE_CHANNEL`` name the queue. Events: ``join`` (a room) and
``relay`` (emitted to the room through the queue, from a background task)."""

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["gevent"]:
    from gevent import monkey

    monkey.patch_all()
elif __name__ == "__main__" and sys.argv[1:2] == ["eventlet"]:
    import eventlet

    eventlet.monkey_patch()

import os

from flask import Flask
from socketwire.flask import SocketIO, join_room

app = Flask(__name__)
socketio = SocketIO(
    app, message_queue=os.environ["SW_QUEUE_URL"], channel=os.environ["SW_QUEUE_CHANNEL"]
)


@socketio.on("join")
def join(room: str) -> str:
    join_room(room)
    return socketio.async_mode or "threading"


@socketio.on("relay")
def relay(room: str, text: str) -> str:
    def later() -> None:
        socketio.sleep(0.05)
        socketio.emit("relayed", text, to=room)

    socketio.start_background_task(later)
    return "queued"


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[2]))
