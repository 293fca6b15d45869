"""Green threads under uWSGI's gevent loop.

``uwsgi --gevent N`` (Flask-SocketIO's documented command) runs every request in a
greenlet of one thread and does not monkey-patch. socketwire's threaded server waits on
locks, events and worker threads, which must then be green: inside such a worker, the first
import of socketwire patches (gevent's ``patch_all``), as the app would with
``--gevent-monkey-patch``. Anywhere else this does nothing."""

from __future__ import annotations

import sys

__all__ = ["green_under_uwsgi", "in_uwsgi", "uwsgi_gevent"]


def in_uwsgi() -> bool:
    """Running inside uWSGI (its master, which imports the app, or a worker)."""
    if "uwsgi" not in sys.modules:
        try:
            import uwsgi  # noqa: F401  (only exists inside uWSGI)
        except ImportError:
            return False
    return True


def uwsgi_gevent() -> bool:
    """Running in uWSGI on its gevent loop (``--gevent N``)."""
    return in_uwsgi() and "gevent" in getattr(sys.modules["uwsgi"], "opt", {})


def green_under_uwsgi() -> None:
    if not uwsgi_gevent():
        return
    from gevent import monkey

    if not monkey.is_module_patched("threading"):
        monkey.patch_all()
