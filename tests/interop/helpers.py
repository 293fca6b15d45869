"""Shared helpers for the interop tests."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
JS_DIR = HERE.parent / "js"
JS_DRIVER = HERE / "js_driver.cjs"

# what the server advertises (see apps/echo_app.py)
PING_INTERVAL_MS = 2000
PING_TIMEOUT_MS = 4000
MAX_PAYLOAD = 2_000_000


def b(data: bytes) -> dict[str, str]:
    """Encode bytes the way js_driver.cjs reports binary values."""
    return {"$bin": base64.b64encode(data).decode()}


def decode_bins(v: Any) -> Any:
    """Turn {"$bin": ...} markers from the JS driver back into bytes."""
    if isinstance(v, list):
        return [decode_bins(x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"$bin"} and isinstance(v["$bin"], str):
            return base64.b64decode(v["$bin"])
        return {k: decode_bins(x) for k, x in v.items()}
    return v


def node_ready() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("tests/js/node_modules missing: run `cd tests/js && npm ci`")


def run_js(
    url: str,
    scenario: str,
    transport: str,
    tag: str,
    params: dict[str, Any] | None = None,
    timeout: float = 30.0,
    server_log: Any = None,
) -> dict[str, Any]:
    """Run one js_driver.cjs scenario; return its decoded result or fail."""
    node_ready()
    cfg = {
        "url": url,
        "scenario": scenario,
        "transport": transport,
        "tag": tag,
        "params": params or {},
        "timeout_ms": int((timeout - 3) * 1000),
    }
    try:
        proc = subprocess.run(
            ["node", str(JS_DRIVER), json.dumps(cfg)],
            capture_output=True,
            timeout=timeout,
            cwd=str(HERE),
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"js driver {scenario}/{transport} hung for {timeout}s\n"
            f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}{_log(server_log)}"
        )
    out = proc.stdout.decode(errors="replace").strip().splitlines()
    if not out:
        pytest.fail(
            f"js driver {scenario}/{transport} printed nothing (rc={proc.returncode})\n"
            f"stderr: {proc.stderr.decode(errors='replace')}{_log(server_log)}"
        )
    try:
        res = json.loads(out[-1])
    except ValueError:
        pytest.fail(f"js driver printed non-JSON: {out[-1]!r}")
    if not res.get("ok"):
        pytest.fail(
            f"js driver {scenario}/{transport} failed: {res.get('error')}\n"
            f"data: {res.get('data')}\nlog: {res.get('log')}\n"
            f"stderr: {proc.stderr.decode(errors='replace')[-2000:]}{_log(server_log)}"
        )
    return decode_bins(res["result"])  # type: ignore[no-any-return]


def _log(server_log: Any) -> str:
    if server_log is None:
        return ""
    return "\n--- server log tail ---\n" + server_log()


def expected_transport(mode: str) -> str:
    return {"polling": "polling", "websocket": "websocket", "upgrade": "websocket"}[mode]
