#!/usr/bin/env bash
# The demo: the chat app on socketwire's native server, http://127.0.0.1:5000/
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_BROWSER_INSTALL=1 ./scripts/setup.sh
exec .venv/bin/python examples/chat/app.py "$@"
