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
