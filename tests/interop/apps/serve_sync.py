"""Launcher for ``echo_app_sync.app`` on servers without a module:attr CLI.

    python serve_sync.py werkzeug HOST PORT   # werkzeug.serving.run_simple, threaded
    python serve_sync.py gevent HOST PORT     # gevent.pywsgi (socketwire's gevent_server)

For ``gevent`` the process is monkey patched before anything else is imported
and the app is built with ``async_mode='gevent'``.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["gevent"]:
    from gevent import monkey

    monkey.patch_all()

import logging
import os


def main(mode: str, host: str, port: int) -> None:
    if mode == "werkzeug":
        from echo_app_sync import app
        from werkzeug.serving import run_simple

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        run_simple(host, port, app, threaded=True)
    elif mode == "gevent":
        os.environ["SW_TEST_ASYNC_MODE"] = "gevent"
        from echo_app_sync import app

        from socketwire.transports.gevent_server import serve

        serve(app, host, port)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
