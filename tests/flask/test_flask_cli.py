"""``socketwire run module:app`` and ``module:socketio`` serve a Flask app with
socketwire.flask: its routes and Socket.IO, over polling and WebSocket."""

from __future__ import annotations

import pytest
import requests
import socketio

from conftest import ServerProcess

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("attr", ["app", "socketio"])
def test_cli_serves_a_flask_app_or_its_socketio(attr: str) -> None:
    server = ServerProcess(f"cli:{attr}", module="cli_flaskapp")
    server.start()
    try:
        page = requests.get(server.url + "/", timeout=10)
        assert page.status_code == 200 and page.text == "served by flask"
        for transport in ("polling", "websocket"):
            client = socketio.Client(reconnection=False)
            client.connect(server.url, transports=[transport], wait_timeout=10)
            try:
                assert client.call("echo", {"n": 1}, timeout=10) == {"n": 1}
            finally:
                client.disconnect()
    finally:
        server.cleanup()
