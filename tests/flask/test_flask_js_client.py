"""The official JavaScript ``socket.io-client`` (tests/js) against the test app served by
``socketio.run(app)``, gunicorn ``-k gthread`` and ``flask run``, over long-polling,
WebSocket and the upgrade between them. The scenario is flask_js_driver.cjs."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import REPO_ROOT, ServerProcess

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

DRIVER = Path(__file__).with_name("flask_js_driver.cjs")
CLIENT = REPO_ROOT / "tests" / "js" / "node_modules" / "socket.io-client"


def run_driver(server: ServerProcess, transport: str, cookie: str | None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not CLIENT.is_dir():
        pytest.fail("node and tests/js/node_modules are needed: run `npm ci` in tests/js")
    config = {
        "url": server.url,
        "transport": transport,
        "cookie": cookie,
        "tag": uuid.uuid4().hex[:8],
    }
    try:
        proc = subprocess.run(
            [node, str(DRIVER), json.dumps(config)], capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"JS driver hung\n--- server log ---\n{server.log_tail()}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        pytest.fail(f"JS driver printed nothing: {proc.stderr}\n{server.log_tail()}")
    report = json.loads(lines[-1])
    if not report["ok"]:
        pytest.fail(
            f"JS scenario failed: {report['error']}\ncompleted: {report['result']}\n"
            f"--- server log ---\n{server.log_tail()}"
        )
    return report["result"]  # type: ignore[no-any-return]


def b64(data: bytes) -> dict[str, str]:
    return {"$bin": base64.b64encode(data).decode()}


@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
def test_js_client_whole_api(flask_server: ServerProcess, transport: str) -> None:
    http = requests.Session()
    response = http.post(
        flask_server.url + "/login", data={"user": "bob", "password": "builder"}, timeout=10
    )
    assert response.ok
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    r = run_driver(flask_server, transport, cookie)

    assert r["transport"] == ("polling" if transport == "polling" else "websocket")
    assert r["welcome"]["auth"] == {"token": "js"} and r["welcome"]["sid_matches"] is True
    assert r["welcome"]["query"].startswith("q-")
    assert r["echo_ack"] == ["x", 2, {"y": [3]}] and r["echo_event"] == ["x", 2, {"y": [3]}]
    assert r["two_values"] == ["one", 2]
    assert r["message"] == ["plain"] and r["json"] == [{"j": 1}]
    blob = bytes(n % 256 for n in range(300))
    assert r["bin_ack"] == [b64(blob)] and r["bin_event"] == [b64(blob[::-1])]
    assert r["catch_all"] == [{"caught": "unregistered"}]
    assert r["join"] == [sorted([r["join"][0][0], r["join"][0][1]])]
    assert r["room_b"] == ["hello"] and r["broadcast_a"][0].startswith("bcast-")
    assert len(r["leave"][0]) == 1  # only its own sid room left
    assert r["answered"] == [{"args": ["answer to q"], "same_sid": True}]
    assert r["ticks_ack"] == ["started"] and r["ticks"] == [0, 1, 2]
    assert r["boom_ack"] == ["handled"]
    assert r["boom_event"] == [
        {"error": "boom 9", "type": "ValueError", "message": "boom", "args": [9]}
    ]
    assert r["after_boom"] == ["alive"]
    assert r["chat_welcome"] == ["/chat"] and r["chat_fail"] == ["chat handled"]
    assert r["ns_welcome"] == [{"namespace": "/ns", "auth": {"k": 3}}]
    assert r["ns_ping"] == ["pong"] and r["ns_whoami_matches"] is True
    assert r["denied"] == {"message": "Connection rejected by server", "data": None}
    assert r["refused"] == {"message": "refused by the app", "data": {"why": "js-no"}}
    assert r["bad_namespace"] == {"message": "Invalid namespace", "data": None}
    assert r["secret"] == ["secret for bob"]
    assert r["kicked_client_reason"] == "io server disconnect"
    assert r["kicked_server_reason"] == "server disconnect"
    assert r["leaving_server_reason"] == "client disconnect"
    assert r["slow_started"] == [True]
    assert r["slow_status"] == [{"returned": True, "gone": True}]
    assert r["late_ack"] is False and r["after_slow"] == ["still fine"]


def test_js_client_anonymous_is_refused_by_the_protected_namespace(
    flask_server: ServerProcess,
) -> None:
    r = run_driver(flask_server, "websocket", None)
    assert r["private_refused"] == {"message": "Connection rejected by server", "data": None}
