"""A chat server on asyncio: run it with ``python asyncio_chat.py``."""

import socketwire

sio = socketwire.AsyncServer()


@sio.event
async def connect(sid, environ, auth):
    await sio.enter_room(sid, "lobby")


@sio.on("chat")
async def chat(sid, text):
    await sio.emit("chat", {"from": sid, "text": text}, room="lobby")
    return "delivered"  # the sender's acknowledgement


app = socketwire.ASGIApp(sio)  # also an ASGI app: `uvicorn asyncio_chat:app`

if __name__ == "__main__":
    socketwire.run(app, host="127.0.0.1", port=5000)
