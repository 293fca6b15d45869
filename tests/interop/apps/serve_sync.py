"""Launcher for ``echo_app_sync.app`` on servers without a module:attr CLI.

    python serve_sync.py werkzeug HOST PORT   # werkzeug.serving.run_simple, threaded
    python serve_sync.py gevent HOST PORT     # gevent.pywsgi (socketwire's gevent_server)
    python serve_sync.py eventlet HOST PORT   # eventlet.wsgi (socketwire's eventlet_server)

For ``gevent`` the process is monkey patched before anything else is imported
and the app is built with ``async_mode='gevent'``; for ``eventlet`` it is patched by
eventlet and the app leaves ``async_mode`` to be detected.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["gevent"]:
    from gevent import monkey

    monkey.patch_all()
elif __name__ == "__main__" and sys.argv[1:2] == ["eventlet"]:
    import eventlet

    eventlet.monkey_patch()

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
    elif mode == "eventlet":
        from echo_app_sync import app, sio

        from socketwire.transports.eventlet_server import serve as serve_eventlet

        assert sio.async_mode == "eventlet", sio.async_mode
        serve_eventlet(app, host, port)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
