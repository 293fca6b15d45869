"""Helper process for test_python_client.py::test_client_vanishes.

Connects a python-socketio AsyncClient with auth {"tag": argv[2]}, prints
"READY <transport>" once connected and the server has answered, then blocks
until the test SIGKILLs it (so no goodbye of any kind reaches the server).
"""

from __future__ import annotations

import asyncio
import sys

import socketio


async def main(url: str, tag: str, transport: str) -> None:
    client = socketio.AsyncClient(reconnection=False)
    transports = None if transport == "upgrade" else [transport]
    await client.connect(url, auth={"tag": tag}, transports=transports, wait_timeout=5)
    who = await client.call("whoami", timeout=5)
    print("READY", client.transport(), who["tag"], flush=True)
    await asyncio.sleep(3600)  # killed by the test long before this


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
