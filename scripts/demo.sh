#!/usr/bin/env bash
# The demo: the chat app on socketwire's native server, http://127.0.0.1:5000/
# Installs only what the demo needs: .venv/ with socketwire and its four runtime
# dependencies (orjson, httptools, websockets, msgpack) plus uvloop, and the pinned
# socket.io-client bundle the page loads (npm, examples/chat). The test toolchain is
# scripts/setup.sh's job.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.socketwire-demo-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q -e '.[uvloop]'
  touch "$stamp"
fi
chat=examples/chat
if [ ! -d "$chat/node_modules" ] || [ "$chat/package-lock.json" -nt "$chat/node_modules" ]; then
  (cd "$chat" && npm ci --no-audit --no-fund --loglevel=error)
fi
exec .venv/bin/python "$chat/app.py" "$@"
