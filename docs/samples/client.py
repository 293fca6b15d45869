"""python-socketio's client talking to any of the servers: ``python client.py [URL]``."""

import sys

import socketio

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
client = socketio.Client()
client.on("chat", print)
client.connect(url)
print(client.call("chat", "hello"))  # delivered
client.disconnect()
