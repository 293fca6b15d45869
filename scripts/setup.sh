#!/usr/bin/env bash
# Installs everything the demo and the tests need, idempotently:
#   .venv/ with socketwire (editable) and its test dependencies (PyPI),
#   the official Socket.IO JS client and playwright-core (npm, locked),
#   Debian's chromium for the browser tests (when running as root and it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.socketwire-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,uvloop]'
  touch "$stamp"
fi

for dir in tests/js examples/chat; do
  if [ -f "$dir/package-lock.json" ] && { [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; }; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

if [ "${SKIP_BROWSER_INSTALL:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests..."
    (apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
      || echo "could not install chromium: browser tests will be skipped" >&2
  else
    echo "chromium is not installed: browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi

# Debian's nginx for the cluster test behind a real load balancer (ip_hash); the test runs
# its own nginx process on a free port with a generated config, never the system service.
if [ "${SKIP_NGINX_INSTALL:-0}" != 1 ] && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's nginx for the cluster tests..."
    (apt-get install -y -q nginx >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nginx >/dev/null 2>&1; }) \
      || echo "could not install nginx: the nginx cluster test will be skipped" >&2
  else
    echo "nginx is not installed: the nginx cluster test will be skipped (apt-get install nginx)" >&2
  fi
fi
