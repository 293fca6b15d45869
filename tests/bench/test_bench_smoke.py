"""Keeps bench/ working: its smoke mode against socketwire's native server (not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--contenders",
            "sw-native",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reports = list(tmp_path.glob("*-smoke.json"))
    assert len(reports) == 1, result.stdout
    report = json.loads(reports[0].read_text())
    assert (tmp_path / "latest-smoke.md").is_file()
    kinds = {s["kind"] for s in report["scenarios"]}
    # broadcast-redis (two nodes through Redis) runs only when a Redis answers, else left out
    assert kinds - {"broadcast-redis"} == {"echo-ws", "echo-poll", "broadcast", "connect"}
    assert len(report["results"]) == len(report["scenarios"])
    for r in report["results"]:
        assert "error" not in r, r
        assert r["rate"] > 0, r
        assert r["count"] > 0, r
        assert r["lost"] == 0, r
        assert not r.get("connect_failures"), r
        assert not r.get("disconnected"), r
    for broadcast in (r for r in report["results"] if r["scenario"].startswith("broadcast")):
        assert broadcast["received"] == broadcast["expected"] > 0


def test_micro_profiler_runs(tmp_path: Path) -> None:
    """bench/micro.py feeds real frames and requests through the real server: every kind of
    message must go through (a broken hot path would leave a round with nothing counted)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "micro.py"), "--seconds", "0.05", "--clients", "5"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "us of Python per message" in line]
    assert [line.split(":")[0] for line in lines] == [
        "echo+ack",
        "broadcast delivery",
        "polling echo+ack",
    ], result.stdout
    for line in lines:
        assert int(line.split("(")[1].split()[0]) > 0, line  # messages counted
