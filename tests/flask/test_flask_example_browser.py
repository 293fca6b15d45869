"""examples/flask (served by ``socketio.run``) in two headless Chromium pages: one
anonymous, one logged in through the login form. The browser work is in
flask_example_driver.cjs (playwright-core from tests/js, Debian's /usr/bin/chromium)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path(__file__).with_name("flask_example_driver.cjs")
PLAYWRIGHT = REPO_ROOT / "tests" / "js" / "node_modules" / "playwright-core"
EXAMPLE = REPO_ROOT / "examples" / "flask"


@pytest.fixture
def example_server() -> Iterator[ServerProcess]:
    server = ServerProcess("example", module="app", cwd=EXAMPLE)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.mark.browser
@pytest.mark.timeout(150)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent")
@pytest.mark.parametrize("transport", ["upgrade", "polling", "websocket"])
def test_example_in_chromium(example_server: ServerProcess, tmp_path: Path, transport: str) -> None:
    node = shutil.which("node")
    if node is None or not PLAYWRIGHT.is_dir():
        pytest.fail("node and tests/js/node_modules are needed: run `npm ci` in tests/js")
    artifacts = (
        Path(os.environ.get("SOCKETWIRE_BROWSER_ARTIFACTS", tmp_path)) / f"flask-{transport}"
    )
    cmd = [node, str(DRIVER), "--url", example_server.url, "--artifacts", str(artifacts),
           "--transport", transport, "--chromium", str(CHROMIUM)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"browser driver hung\n--- app log ---\n{example_server.log_tail()}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        pytest.fail(f"driver printed nothing: {proc.stderr}\n{example_server.log_tail()}")
    report = json.loads(lines[-1])
    if not report["ok"]:
        pytest.fail(
            f"failed at {report['failed_step']!r}: {report['error']}\n"
            f"passed: {report['steps']}\npage errors: {report['page_errors']}\n"
            f"console errors: {report['console_errors']}\n--- app log ---\n"
            f"{example_server.log_tail()}"
        )
    assert len(report["steps"]) == 8
