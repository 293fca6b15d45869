"""The sdist and the wheel build, and the wheel installs and runs in a fresh virtual
environment: ``socketwire --help``, then a server that a client talks to."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

import socketwire

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(600)


def test_wheel_installs_and_serves_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels = list(dist.glob("socketwire-*.whl"))
    sdists = list(dist.glob("socketwire-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    assert wheels[0].name.startswith(f"socketwire-{socketwire.__version__}-")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(wheels[0])],
        check=True,
        capture_output=True,
        timeout=300,
    )
    help_text = subprocess.run(
        [str(env_dir / "bin" / "socketwire"), "--help"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "run" in help_text

    # a server from the installed wheel (not this checkout), asked over raw HTTP
    smoke = """
import asyncio, json, socketwire, sys
assert "site-packages" in socketwire.__file__, socketwire.__file__
async def main():
    sio = socketwire.AsyncServer()
    server = await socketwire.create_server(sio, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    head = await reader.readuntil(b"\\r\\n\\r\\n")
    lines = head.split(b"\\r\\n")
    length = int(next(x for x in lines if x.lower().startswith(b"content-length:"))[15:])
    body = await reader.readexactly(length)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body[1:])["sid"]
    writer.close()
    server.close()
    await server.wait_closed()
    print("served", socketwire.__version__)
asyncio.run(main())
"""
    out = subprocess.run(
        [str(py), "-c", smoke],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    ).stdout
    assert out.strip() == f"served {socketwire.__version__}"
