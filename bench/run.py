"""socketwire's side-by-side benchmark: every contender x every scenario in one run.

    .venv/bin/python bench/run.py                      # everything (about 6-8 minutes)
    .venv/bin/python bench/run.py --smoke              # a few seconds, tiny client counts
    .venv/bin/python bench/run.py --only echo-ws-100,broadcast --contenders sw-native,node
    .venv/bin/python bench/run.py --only broadcast-redis \
        --contenders sw-native,sw-asgi,psio-asgi,node     # cross-node, through Redis

Each (contender, scenario) gets a fresh server process pinned to one core (``taskset -c 0``)
and a fresh load generator (bench/loadgen.py) pinned to the other (``taskset -c 1``); the
cross-node scenario (``broadcast-redis-*``) gets two server processes of the contender, both
on the server's core, joined through Redis (``--redis``) on a pub/sub channel of their own.

A full run (every scenario, at least the default contenders) writes ``<out>/<timestamp>.json``
and ``<out>/latest.md`` (default out: bench/results). A partial run (``--only``, or fewer
contenders) never touches latest.md: it writes ``<out>/<timestamp>-<label>.json`` and
``<out>/<label>-latest.md``, label ``cross-node`` when it runs only the Redis scenario,
``partial`` otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
NODE_DIR = BENCH / "node"


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # loadgen --scenario
    clients: int
    title: str


FULL = [
    Scenario("echo-ws-1", "echo-ws", 1, "echo over WebSocket, 1 client"),
    Scenario("echo-ws-100", "echo-ws", 100, "echo over WebSocket, 100 clients"),
    Scenario("echo-ws-1000", "echo-ws", 1000, "echo over WebSocket, 1000 clients"),
    Scenario("echo-poll-100", "echo-poll", 100, "echo over polling, 100 clients"),
    Scenario("broadcast-100", "broadcast", 100, "broadcast to 100 clients in a room"),
    Scenario("broadcast-1000", "broadcast", 1000, "broadcast to 1000 clients"),
    Scenario("broadcast-5000", "broadcast", 5000, "broadcast to 5000 clients"),
    Scenario("connect-2000", "connect", 2000, "new connections, to 2000"),
    Scenario(
        "broadcast-redis-500",
        "broadcast-redis",
        500,
        "cross-node broadcast through Redis, 500 clients on node B, trigger on node A",
    ),
]
SMOKE = [
    Scenario("echo-ws-1", "echo-ws", 1, "echo over WebSocket, 1 client"),
    Scenario("echo-ws-10", "echo-ws", 10, "echo over WebSocket, 10 clients"),
    Scenario("echo-poll-5", "echo-poll", 5, "echo over polling, 5 clients"),
    Scenario("broadcast-20", "broadcast", 20, "broadcast to 20 clients in a room"),
    Scenario("connect-50", "connect", 50, "new connections, to 50"),
    # skipped (left out of the run) when no Redis answers at --redis
    Scenario("broadcast-redis-20", "broadcast-redis", 20, "cross-node broadcast via Redis, 20"),
]
#: scenarios that need a Redis server (--redis)
REDIS_KINDS = {"broadcast-redis"}

CONTENDERS = {
    "sw-native": "socketwire native (uvloop)",
    "sw-asgi": "socketwire ASGI + uvicorn",
    "sw-threaded": "socketwire threaded (native server)",
    "sw-gevent": "socketwire threaded on gevent.pywsgi",
    "psio-asgi": "python-socketio ASGI + uvicorn",
    "psio-gevent": "python-socketio gevent",
    "psio-threaded": "python-socketio threading + Werkzeug",
    "node": "Node socket.io 4.8",
}
#: (ours, peer) pairs shown as ratios
RATIOS = [
    ("sw-native", "psio-asgi"),
    ("sw-native", "node"),
    ("sw-asgi", "psio-asgi"),
    ("sw-threaded", "psio-gevent"),
    ("sw-threaded", "psio-threaded"),
    ("sw-gevent", "psio-gevent"),
]
#: the contenders bench/servers.py and bench/node can run as Redis cluster nodes (the others'
#: broadcast-redis cells say n/a)
REDIS_CONTENDERS = {"sw-native", "sw-asgi", "psio-asgi", "node"}
#: run by default: all (python-socketio's threading mode, on Werkzeug's server as its docs
#: show, is the threaded server's like-for-like peer; psio-gevent its fastest sync one)
DEFAULT = list(CONTENDERS)
#: another process using this much of the server's core (%) makes a cell noisy: rerun it once
NOISY = 10.0
EXIT_UNAVAILABLE = 3


# ----------------------------------------------------------------------------- machine


def sh(*cmd: str, cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for dist in (
        "socketwire",
        "python-socketio",
        "python-engineio",
        "uvicorn",
        "uvloop",
        "httptools",
        "websockets",
        "orjson",
    ):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = None
    commit = sh("git", "rev-parse", "--short", "HEAD", cwd=ROOT)
    if commit and sh("git", "status", "--porcelain", "src", cwd=ROOT):
        commit += "+uncommitted"
    found["socketwire_commit"] = commit
    with contextlib.suppress(OSError, ValueError, KeyError):
        lock = json.loads((NODE_DIR / "package-lock.json").read_text())
        for npm in ("socket.io", "@socket.io/redis-adapter", "redis"):
            found[f"{npm} (npm)"] = lock["packages"][f"node_modules/{npm}"]["version"]
    return found


def redis_info(url: str) -> tuple[dict[str, Any] | None, str | None]:
    """(Redis's INFO server section, None) when a Redis answers at ``url``, else (None, why)."""
    try:
        import redis
    except ImportError:
        return None, "redis-py not installed (pip install redis)"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
            info: dict[str, Any] = client.info("server")
        finally:
            client.close()
    except Exception as exc:  # any connection or auth problem: no Redis for this run
        return None, f"no Redis at {url}: {exc}"
    return info, None


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": sh("node", "--version"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(),
    }


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: str | None, cmd: list[str]) -> list[str]:
    # taskset execs the command, so the pid we get is the server's own
    return ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd


def server_command(
    contender: str, port: int, redis: str | None = None, channel: str | None = None
) -> list[str]:
    if contender == "node":
        cmd = ["node", str(NODE_DIR / "server.mjs"), str(port)]
        return [*cmd, redis, channel or "socketwire-bench"] if redis else cmd
    cmd = [sys.executable, str(BENCH / "servers.py"), "--impl", contender, "--port", str(port)]
    return [*cmd, "--redis", redis, "--channel", channel or "socketwire-bench"] if redis else cmd


def node_ready() -> str | None:
    """None when the Node contender can run, else why not (installs the locked deps)."""
    if shutil.which("node") is None:
        return "node not installed"
    modules = NODE_DIR / "node_modules"
    if not all((modules / m).is_dir() for m in ("socket.io", "@socket.io/redis-adapter", "redis")):
        if shutil.which("npm") is None:
            return "npm not installed"
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            return "npm ci failed: " + result.stderr.strip()[-300:]
    return None


class Server:
    def __init__(
        self,
        contender: str,
        cpu: str | None,
        redis: str | None = None,
        channel: str | None = None,
    ) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            pinned(cpu, server_command(contender, self.port, redis, channel)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 20.0) -> str | None:
        """None once the port accepts connections, else the reason it never will."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                if self.proc.returncode == EXIT_UNAVAILABLE:
                    return "not available: " + err.strip()
                return f"server exited {self.proc.returncode}: {err.strip()[-500:]}"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return None
            time.sleep(0.05)
        return "server did not start listening"

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = b""
        if self.proc.stderr:
            with contextlib.suppress(OSError, ValueError):
                err = self.proc.stderr.read()
            self.proc.stderr.close()
        return err.decode(errors="replace")


def run_one(contender: str, scenario: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    cross_node = scenario.kind in REDIS_KINDS
    extra: list[str] = []
    servers: list[Server] = []
    redis: str | None = None
    channel: str | None = None
    if cross_node:
        redis = args.redis
        # node A (the trigger's) and node B (the members'), same contender, same core, one
        # pub/sub channel of their own: nothing else on the broker hears them
        channel = f"socketwire-bench-{os.getpid()}-{time.time_ns()}-{contender}"
        peer = Server(contender, args.server_cpu, redis, channel)
        servers.append(peer)
    server = Server(contender, args.server_cpu, redis, channel)
    servers.append(server)
    for s in servers:
        why = s.wait_ready()
        if why is not None:
            for s2 in servers:
                s2.stop()
            return {"error": why}
    if cross_node:
        extra = ["--trigger-port", str(peer.port), "--peer-pid", str(peer.proc.pid)]
        if args.redis_pid is not None:
            extra += ["--redis-pid", str(args.redis_pid)]
    cmd = pinned(
        args.gen_cpu,
        [
            sys.executable,
            str(BENCH / "loadgen.py"),
            "--port",
            str(server.port),
            "--server-pid",
            str(server.proc.pid),
            *(["--server-core", args.server_cpu] if args.server_cpu is not None else []),
            "--scenario",
            scenario.kind,
            "--clients",
            str(scenario.clients),
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
            *extra,
        ],
    )
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 180
        )
    except subprocess.TimeoutExpired:
        for s in servers:
            s.stop()
        return {"error": "load generator timed out"}
    server_err = "".join(s.stop() for s in servers)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return {"error": f"load generator failed ({out.returncode}): {out.stderr.strip()[-800:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    noise = [ln for ln in (out.stderr + server_err).splitlines() if ln.strip()]
    if noise:
        result["stderr"] = noise[-10:]
    return result


# ----------------------------------------------------------------------------- report


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if "error" in r:
        return "n/a" if r["error"].startswith("not available") else "error"
    text = fmt_rate(r.get("rate"))
    if (r.get("server_core_other_cpu") or 0) >= NOISY:
        text += " (noisy)"
    if r.get("lost"):
        text += f", {r['lost']} lost"
    if r.get("gen_bound"):
        text += " (gen-bound)"
    return text


def ratio(ours: dict[str, Any] | None, peer: dict[str, Any] | None, key: str = "rate") -> str:
    if not ours or not peer or "error" in ours or "error" in peer:
        return "-"
    a, b = ours.get(key), peer.get(key)
    if not a or not b:
        return "-"
    text = f"{a / b:.2f}x"
    if ours.get("gen_bound"):
        text += "*"
    return text


def markdown(report: dict[str, Any]) -> str:
    results: dict[tuple[str, str], dict[str, Any]] = {
        (r["contender"], r["scenario"]): r for r in report["results"]
    }
    contenders = [c for c in report["contenders"]]
    scenarios = report["scenarios"]
    m = report["machine"]
    out = [
        f"# socketwire benchmark, {report['started']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
        f"Node {m['node'] or '-'}; server pinned to CPU {report['config']['server_cpu']}, "
        f"load generator to CPU {report['config']['gen_cpu']}; "
        f"{report['config']['duration']} s measured after {report['config']['warmup']} s "
        f"warm-up per cell; load average at start {m['load_average_at_start']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".",
        "",
        "Rates are acks/s (echo), deliveries/s (broadcast) or connections/s (connect); "
        "`(gen-bound)` = the load generator used >= 90% of its core, so the figure is a "
        "lower bound for the server; ratios marked * involve such a figure. `(noisy)` = other "
        f"processes used >= {NOISY:.0f}% of the server's core during the window (the machine "
        "is shared; such cells are rerun once and the quieter run kept). Details list the "
        "rate per server CPU-second too, which is steadier when the server is the bottleneck.",
        "",
    ]
    if any(s["kind"] in REDIS_KINDS for s in scenarios):
        cpu = report["config"]["server_cpu"]
        out += [
            "Cross-node (`broadcast-redis-N`): two server processes of the contender, node A "
            f"and node B, both pinned to CPU {cpu}, each with its Redis manager (socketwire "
            "`AsyncRedisManager`, python-socketio `socketio.AsyncRedisManager`, Node "
            "`@socket.io/redis-adapter`) on a pub/sub channel unique to the cell, Redis "
            f"{m['versions'].get('redis-server') or ''} at `{report['config'].get('redis')}` "
            "(not pinned: it runs where the kernel puts it). The N clients join the room on node "
            "B; the trigger client, on node A, keeps 4 broadcasts in flight, so every delivery "
            "crosses Redis. Probe broadcasts first wait until node B hears node A. Latency = "
            "trigger emit on A -> delivery from B; `lost` counts every broadcast sent (warm-up "
            "included) x N - deliveries. Server CPU = node B; node A's and Redis's are in the "
            "notes; per server CPU-s uses A + B.",
            "",
        ]
    head = ["scenario", *(CONTENDERS[c] for c in contenders)]
    ratio_pairs = [(a, b) for a, b in RATIOS if a in contenders and b in contenders]
    head += [f"{a} / {b}" for a, b in ratio_pairs]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + " --- |" * len(head))
    for s in scenarios:
        row = [s["title"]]
        row += [cell(results.get((c, s["name"]))) for c in contenders]
        row += [
            ratio(results.get((a, s["name"])), results.get((b, s["name"]))) for a, b in ratio_pairs
        ]
        out.append("| " + " | ".join(row) + " |")
        if s["kind"] == "connect":
            row = ["memory per idle connection (lower is better)"]
            for c in contenders:
                r = results.get((c, s["name"]))
                per = r.get("bytes_per_conn") if r and "error" not in r else None
                row.append("-" if per is None else f"{per / 1024:.1f} KB")
            row += [
                ratio(results.get((a, s["name"])), results.get((b, s["name"])), "bytes_per_conn")
                for a, b in ratio_pairs
            ]
            out.append("| " + " | ".join(row) + " |")
    out += [
        "",
        "## Details",
        "",
        "| contender | scenario | rate | per server CPU-s | p50 ms | p99 ms | lost "
        "| server CPU % | other on server core % | generator CPU % | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in scenarios:
        for c in contenders:
            r = results.get((c, s["name"]))
            if r is None:
                continue
            if "error" in r:
                out.append(
                    f"| {c} | {s['name']} | - | - | - | - | - | - | - | - | {r['error'][:120]} |"
                )
                continue
            notes = []
            if r.get("gen_bound"):
                notes.append("generator-bound")
            if r.get("disconnected"):
                notes.append(f"{r['disconnected']} clients disconnected")
            if r.get("connect_failures"):
                notes.append(f"{r['connect_failures']} connects failed")
            if r.get("abandoned_broadcasts"):
                notes.append(f"{r['abandoned_broadcasts']} broadcasts incomplete after 2 s")
            if r.get("bytes_per_conn") is not None:
                notes.append(f"{r['bytes_per_conn'] / 1024:.1f} KB/conn")
            if r.get("broadcasts") is not None:
                notes.append(f"{r['broadcasts']} broadcasts x {r['members']} members")
            if r.get("peer_cpu") is not None:
                notes.append(f"node A CPU {r['peer_cpu']}%")
            if r.get("redis_cpu") is not None:
                notes.append(f"Redis CPU {r['redis_cpu']}%")
            if r.get("unparsed"):
                notes.append(f"{r['unparsed']} unexpected packets")
            per_cpu = None
            if r.get("server_cpu"):
                per_cpu = r["rate"] * 100 / (r["server_cpu"] + (r.get("peer_cpu") or 0))
            if r.get("attempts", 1) > 1:
                notes.append(f"run {r['attempts']} times (noisy), quietest kept")
            out.append(
                f"| {c} | {s['name']} | {fmt_rate(r.get('rate'))} {r.get('unit', '')} | "
                f"{fmt_rate(per_cpu)} | "
                f"{fmt_ms(r.get('p50_ms'))} | {fmt_ms(r.get('p99_ms'))} | {r.get('lost', 0)} | "
                f"{r.get('server_cpu', '-')} | {r.get('server_core_other_cpu', '-')} | "
                f"{r.get('gen_cpu', '-')} | {'; '.join(notes)} |"
            )
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- main


def selects(wanted: str, scenario: Scenario) -> bool:
    """``--only`` matching: a name or a prefix of names; a Redis scenario only by a prefix
    that names its kind (``broadcast`` keeps meaning the single-node broadcasts)."""
    if not scenario.name.startswith(wanted):
        return False
    return scenario.kind not in REDIS_KINDS or wanted.startswith(scenario.kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="socketwire side-by-side benchmark")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, tiny counts")
    parser.add_argument("--only", default="", help="comma-separated scenario names or prefixes")
    parser.add_argument(
        "--contenders", default=",".join(DEFAULT), help="comma-separated: " + ", ".join(CONTENDERS)
    )
    parser.add_argument("--duration", type=float, help="measured seconds per cell (default 4)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 1)")
    parser.add_argument(
        "--out", type=Path, help="default bench/results (bench/results/smoke with --smoke)"
    )
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--gen-cpu", default="1")
    parser.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the broadcast-redis scenarios (default $BENCH_REDIS_URL or "
        "redis://127.0.0.1:6379/0)",
    )
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 0.5 if args.smoke else 4.0
    if args.warmup is None:
        args.warmup = 0.2 if args.smoke else 1.0
    if args.out is None:
        args.out = BENCH / "results" / ("smoke" if args.smoke else "")
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("no taskset or a single CPU: running unpinned", file=sys.stderr)
        args.server_cpu = args.gen_cpu = None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # inherited by servers and generators
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    scenarios = SMOKE if args.smoke else FULL
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        scenarios = [s for s in scenarios if any(selects(w, s) for w in wanted)]
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for c in contenders:
        if c not in CONTENDERS:
            parser.error(f"unknown contender {c!r}")
    skip: dict[str, str] = {}
    if "node" in contenders:
        why = node_ready()
        if why:
            skip["node"] = "not available: " + why
    # the Redis scenarios: Redis must answer (smoke: leave them out; else their cells say n/a)
    args.redis_pid = None
    no_redis: str | None = None
    redis_server: dict[str, Any] | None = None
    if any(s.kind in REDIS_KINDS for s in scenarios):
        redis_server, no_redis = redis_info(args.redis)
        if no_redis is not None:
            print(f"broadcast-redis: {no_redis}", file=sys.stderr)
            if args.smoke:
                scenarios = [s for s in scenarios if s.kind not in REDIS_KINDS]
        elif redis_server is not None and "process_id" in redis_server:
            pid = int(redis_server["process_id"])
            if Path(f"/proc/{pid}/stat").exists():  # a local Redis: report its CPU use
                args.redis_pid = pid
    partial = bool(args.only) or not set(DEFAULT) <= set(contenders)
    label = ""
    if partial:
        label = "cross-node" if all(s.kind in REDIS_KINDS for s in scenarios) else "partial"

    started = dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    report: dict[str, Any] = {
        "started": started,
        "smoke": args.smoke,
        "machine": machine(),
        "config": {
            "duration": args.duration,
            "warmup": args.warmup,
            "server_cpu": args.server_cpu,
            "gen_cpu": args.gen_cpu,
            "partial": partial,
        },
        "contenders": contenders,
        "scenarios": [s.__dict__ for s in scenarios],
        "results": [],
    }
    if any(s.kind in REDIS_KINDS for s in scenarios):
        report["config"]["redis"] = args.redis
        if redis_server is not None:
            report["machine"]["versions"]["redis-server"] = redis_server.get("redis_version")
    t0 = time.monotonic()
    for scenario in scenarios:
        for contender in contenders:
            if contender in skip:
                result: dict[str, Any] = {"error": skip[contender]}
            elif scenario.kind in REDIS_KINDS and contender not in REDIS_CONTENDERS:
                result = {"error": "not available: no Redis cluster mode for this contender"}
            elif scenario.kind in REDIS_KINDS and no_redis is not None:
                result = {"error": "not available: " + no_redis}
            else:
                result = run_one(contender, scenario, args)
                if result.get("error", "").startswith("not available"):
                    skip[contender] = result["error"]
                elif (result.get("server_core_other_cpu") or 0) >= NOISY and not args.smoke:
                    again = run_one(contender, scenario, args)
                    if (
                        "error" not in again
                        and (again.get("server_core_other_cpu") or 0)
                        < (result["server_core_other_cpu"])
                    ):
                        result = again
                    result["attempts"] = 2
            result = {"contender": contender, "scenario": scenario.name, **result}
            report["results"].append(result)
            if "error" in result:
                line = result["error"][:200]
            else:
                line = (
                    f"{fmt_rate(result['rate'])} {result['unit']}  p50 {fmt_ms(result['p50_ms'])} "
                    f"p99 {fmt_ms(result['p99_ms'])} ms  lost {result['lost']}  "
                    f"cpu srv {result['server_cpu']}% gen {result['gen_cpu']}%"
                    + ("  GENERATOR-BOUND" if result.get("gen_bound") else "")
                )
            print(f"{scenario.name:16} {contender:12} {line}", flush=True)
    report["elapsed_s"] = round(time.monotonic() - t0, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "".join(f"-{x}" for x in (label, "smoke" if args.smoke else "") if x)
    json_path = args.out / f"{started}{suffix}.json"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    md = markdown(report)
    if args.smoke:
        md_name = "latest-smoke.md"  # tests/bench looks for it, whatever the selection
    else:
        md_name = f"{label}-latest.md" if label else "latest.md"
    (args.out / md_name).write_text(md)
    print(md)
    print(f"wrote {json_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
