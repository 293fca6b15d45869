"""A Flask app with socketwire.flask, for ``socketwire run cli_flaskapp:app`` and
``socketwire run cli_flaskapp:socketio``."""

from flask import Flask
from socketwire.flask import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)


@app.route("/")
def index() -> str:
    return "served by flask"


@socketio.on("echo")
def echo(data: object) -> object:
    return data
