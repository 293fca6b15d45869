"""``flaskapp`` under gevent: monkey-patch first, then the same app with
``async_mode='gevent'``, served by ``socketio.run`` (gevent's WSGI server)."""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402

os.environ["SW_FLASK_ASYNC_MODE"] = "gevent"

import flaskapp  # noqa: E402

if __name__ == "__main__":
    flaskapp.socketio.run(
        flaskapp.app, host="127.0.0.1", port=int(sys.argv[1]), max_http_buffer_size=500_000
    )
