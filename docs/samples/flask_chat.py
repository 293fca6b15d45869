"""The same chat in Flask, written as for Flask-SocketIO: ``python flask_chat.py``."""

from flask import Flask

from socketwire.flask import SocketIO, emit, join_room

app = Flask(__name__)
socketio = SocketIO(app)


@socketio.on("connect")
def connect(auth):
    join_room("lobby")


@socketio.on("chat")
def chat(text):
    emit("chat", {"text": text}, to="lobby")
    return "delivered"


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=5000)
