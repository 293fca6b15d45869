"""The same chat with plain functions on threads: ``python threads_chat.py``."""

import socketwire

sio = socketwire.Server()


@sio.event
def connect(sid, environ, auth):
    sio.enter_room(sid, "lobby")


@sio.on("chat")
def chat(sid, text):
    sio.emit("chat", {"from": sid, "text": text}, room="lobby")
    return "delivered"


app = socketwire.WSGIApp(
    sio
)  # also a WSGI app: `gunicorn -k gthread --threads 100 threads_chat:app`

if __name__ == "__main__":
    socketwire.run(app, host="127.0.0.1", port=5000)
