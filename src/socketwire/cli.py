"""``socketwire run module:attr``: serve an application on the native server."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from .transports.native import run

__all__ = ["load", "main"]


def load(target: str) -> Any:
    """Import ``module:attribute`` (attribute may be dotted); the current directory is on
    the path, as with uvicorn."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"expected module:attribute, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="socketwire", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="serve module:attr (AsyncServer or ASGIApp)")
    runner.add_argument("app", help="module:attribute")
    runner.add_argument("--host", default="127.0.0.1")
    runner.add_argument("--port", type=int, default=5000)
    runner.add_argument("--ssl-certfile")
    runner.add_argument("--ssl-keyfile")
    runner.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    runner.add_argument("--no-uvloop", action="store_true", help="use the default event loop")
    args = parser.parse_args(argv)
    app = load(args.app)
    run(
        app,
        args.host,
        args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        log_level=args.log_level,
        use_uvloop=not args.no_uvloop,
    )


if __name__ == "__main__":
    main()
