"""``flaskapp`` under eventlet, as Flask-SocketIO's documentation starts an app: monkey-patch
first, then the same app with no ``async_mode`` (chosen from the patching), served by
``socketio.run`` (eventlet's WSGI server)."""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

import flaskapp  # noqa: E402

if __name__ == "__main__":
    assert flaskapp.socketio.async_mode == "eventlet", flaskapp.socketio.async_mode
    flaskapp.socketio.run(
        flaskapp.app, host="127.0.0.1", port=int(sys.argv[1]), max_http_buffer_size=500_000
    )
