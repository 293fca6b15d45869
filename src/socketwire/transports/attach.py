"""``attach(app)``: serve an asyncio server inside an aiohttp or Sanic application (the two
frameworks python-socketio's ``attach`` knows), chosen from the app's type."""

from __future__ import annotations

from typing import Any

__all__ = ["attach"]


def attach(server: Any, app: Any, path: str) -> None:
    if any(cls.__module__.split(".")[0] == "sanic" for cls in type(app).__mro__):
        from .sanic import attach as attach_sanic

        attach_sanic(server, app, path)
    else:
        from .aiohttp import attach as attach_aiohttp

        attach_aiohttp(server, app, path)
