"""The sans-I/O core imports no I/O or concurrency module (DESIGN.md, "Layers")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import socketwire

SRC = str(Path(socketwire.__file__).parent)

CORE_MODULES = [
    "socketwire._timers",
    "socketwire.adapter",
    "socketwire.engineio.packet",
    "socketwire.engineio.core",
    "socketwire.socketio.packet",
    "socketwire.socketio.core",
    "socketwire.ws",
]
FORBIDDEN = [
    "asyncio",
    "threading",
    "socket",
    "selectors",
    "concurrent.futures",
    "gevent",
    "eventlet",
    "httptools",
    "uvloop",
]


def test_core_imports_no_io() -> None:
    code = (
        "import sys, types, pathlib\n"
        # the package's __init__ pulls in the runtimes; load the core modules without it
        f"pkg = types.ModuleType('socketwire'); pkg.__path__ = [{SRC!r}]\n"
        "sys.modules['socketwire'] = pkg\n"
        # third-party C helpers the core uses; what *they* import is not ours to police
        "import orjson, websockets.speedups\n"
        "before = set(sys.modules)\n"
        f"for name in {CORE_MODULES!r}: __import__(name)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules and m not in before]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"core pulled in: {result.stdout.strip()}"


def test_core_sources_import_no_io() -> None:
    """Catches what the runtime check cannot see (a module already imported by a helper)."""
    import ast

    for name in CORE_MODULES:
        path = Path(SRC, *name.split(".")[1:]).with_suffix(".py")
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for imported in names:
                root = imported.split(".")[0]
                assert root not in FORBIDDEN and imported not in FORBIDDEN, (
                    f"{name} imports {imported}"
                )
