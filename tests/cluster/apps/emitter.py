"""An emitter in a process of its own (a Celery task or a cron script would look the same):
``python emitter.py URL CHANNEL sync|async EVENT TAG COUNT [INTERVAL]``: broadcasts
[TAG, 0..COUNT-1] with a write-only manager, then prints the manager's stats as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from socketwire.managers import AsyncManager, ThreadManager, from_url


def main() -> None:
    url, channel, mode, event, tag, count = sys.argv[1:7]
    interval = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    if mode == "sync":
        manager = from_url(url, channel, write_only=True, asyncio=False)
        assert isinstance(manager, ThreadManager)
        for i in range(int(count)):
            manager.emit(event, [tag, i])
            if interval:
                time.sleep(interval)
        manager.close()
    else:
        manager = from_url(url, channel, write_only=True, asyncio=True)
        assert isinstance(manager, AsyncManager)

        async def run() -> None:
            for i in range(int(count)):
                await manager.emit(event, [tag, i])
                if interval:
                    await asyncio.sleep(interval)
            await manager.close()

        asyncio.run(run())
    print(json.dumps(manager.stats), flush=True)


if __name__ == "__main__":
    main()
