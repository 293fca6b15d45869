"""The official Engine.IO v4 / Socket.IO v5 protocol test suites against our servers.

Runs ``../shared/conformance/run.sh`` (the suites are third-party code fetched into
``../shared/conformance/vendor/``, never committed). Without them the tests are skipped and
say why; the suites cannot be downloaded from a package registry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.interop.conftest import gunicorn_25

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT.parent / "shared" / "conformance"
SERVER = ROOT / "examples" / "conformance" / "server.py"

pytestmark = pytest.mark.conformance


def _missing() -> str | None:
    if not (HARNESS / "run.sh").exists():
        return f"no conformance harness at {HARNESS}"
    for suite in ("engine.io", "socket.io"):
        if not (HARNESS / "vendor" / f"{suite}-protocol" / "test-suite" / "test-suite.js").exists():
            return (
                f"upstream suites not vendored in {HARNESS / 'vendor'} "
                "(see shared/conformance/README.md, 'Vendor')"
            )
    return None


@pytest.fixture(scope="module")
def harness() -> Path:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    if not (HARNESS / "node_modules" / ".bin" / "mocha").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HARNESS,
            check=True,
            timeout=600,
        )
    return HARNESS


@pytest.mark.parametrize(
    "mode",
    [
        "native",
        "asgi",
        "native-sync",
        "wsgi",
        "werkzeug",
        "gevent",
        "gunicorn-gevent",
        "gunicorn-geventwebsocket",
        "eventlet",
        "sanic",
        "uwsgi-gevent",
        "uwsgi-threads",
        "gunicorn-eventlet",
    ],
)
def test_upstream_suites_pass_in_full(harness: Path, mode: str) -> None:
    # --retries 1: the suites are timing-based (300 ms heartbeats) and the machine is shared
    # with the rest of the test run; the harness README recommends it for CI.
    env = {
        **os.environ,
        # gunicorn-eventlet: gunicorn 25.x, the last with that worker, beside the venv
        "SW_GUNICORN_PATH": str(gunicorn_25()) if mode == "gunicorn-eventlet" else "",
        "STRICT": "1",
        "SUITES": "engine.io socket.io clients",
        "MOCHA_ARGS": "--retries 1",
    }
    result = subprocess.run(
        ["bash", str(harness / "run.sh"), f"{sys.executable} {SERVER} --mode {mode}"],
        cwd=harness,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", result.stdout, re.M)
    assert summary, f"no summary line:\n{result.stdout}\n{result.stderr}"
    passed, failed = map(int, summary[-1])
    failures = "\n".join(
        line
        for line in result.stdout.splitlines()
        if line.startswith(("FAIL", "PASS~", "       ->"))
    )
    assert (failed, passed) == (0, 56 + 21), failures
