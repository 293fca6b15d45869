"""The chat example, end to end, in two (then three) headless Chromium pages.

The browser work is done by chat_driver.cjs (playwright-core from tests/js, driving
Debian's /usr/bin/chromium); this test owns the server process and judges the result.
Screenshots land in $SOCKETWIRE_BROWSER_ARTIFACTS if set, else in the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from chat_harness import REPO_ROOT, ChatServer

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path(__file__).with_name("chat_driver.cjs")
PLAYWRIGHT = REPO_ROOT / "tests" / "js" / "node_modules" / "playwright-core"
DRIVER_TIMEOUT = 150.0  # the driver's own watchdog (100 s) should fire first


def artifacts_dir(tmp_path: Path) -> Path:
    chosen = os.environ.get("SOCKETWIRE_BROWSER_ARTIFACTS")
    path = Path(chosen) if chosen else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.browser
@pytest.mark.timeout(240)
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"
)
@pytest.mark.parametrize("transport", ["upgrade", "polling", "websocket"])
def test_chat_two_browsers(chat_server: ChatServer, tmp_path: Path, transport: str) -> None:
    node = shutil.which("node")
    if node is None or not PLAYWRIGHT.is_dir():
        # Chromium being installed means browser tests are wanted: a half setup is a failure.
        pytest.fail("node and tests/js/node_modules are needed: run `npm ci` in tests/js")
    artifacts = artifacts_dir(tmp_path) / transport
    cmd = [
        node,
        str(DRIVER),
        "--url",
        chat_server.url,
        "--artifacts",
        str(artifacts),
        "--chromium",
        str(CHROMIUM),
        "--transport",
        transport,
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=DRIVER_TIMEOUT, cwd=REPO_ROOT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"browser driver hung for {DRIVER_TIMEOUT}s\nstderr: {exc.stderr!r}\n"
            f"--- chat app log ---\n{chat_server.log_tail()}"
        )

    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(
            f"driver printed no JSON report (exit {proc.returncode})\nstdout: {proc.stdout}\n"
            f"stderr: {proc.stderr}\n--- chat app log ---\n{chat_server.log_tail()}"
        )

    if not report["ok"] or proc.returncode != 0:
        pytest.fail(
            f"browser scenario failed at step: {report['failed_step']!r}\n"
            f"error: {report['error']}\n"
            f"passed steps: {report['steps']}\n"
            f"screenshots: {report['screenshots']}\n"
            f"page errors: {report['page_errors']}\n"
            f"console errors: {report['console_errors']}\n"
            f"driver stderr: {proc.stderr[-2000:]}\n"
            f"--- chat app log ---\n{chat_server.log_tail()}"
        )
    assert (artifacts / "chat-two-pages.png").is_file()
    assert not report["page_errors"]
