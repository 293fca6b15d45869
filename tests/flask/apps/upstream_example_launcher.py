"""Flask-SocketIO's example app (../shared/flask-socketio-suite/vendor/example/app.py),
unmodified, served by ``socketio.run(app)`` on the port given: its ``flask_socketio``
imports resolve to socketwire.flask. Usage: upstream_example_launcher.py PORT"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import socketwire.flask
import socketwire.flask.namespace
import socketwire.flask.test_client

sys.modules["flask_socketio"] = socketwire.flask
sys.modules["flask_socketio.namespace"] = socketwire.flask.namespace
sys.modules["flask_socketio.test_client"] = socketwire.flask.test_client

EXAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "flask-socketio-suite"
APP = EXAMPLE / "vendor" / "example" / "app.py"

if __name__ == "__main__":
    os.chdir(APP.parent)  # Flask finds templates/ from the working directory here
    # run as a module, not __main__: its own `socketio.run(app)` would take port 5000;
    # the same call with the test's port follows
    example = runpy.run_path(str(APP), run_name="upstream_example")
    assert "socketio" not in sys.modules and "engineio" not in sys.modules, "upstream imported"
    example["socketio"].run(example["app"], host="127.0.0.1", port=int(sys.argv[1]))
