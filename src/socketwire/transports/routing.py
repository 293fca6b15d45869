"""What every transport decides the same way, without I/O: which server a path belongs to,
how a query string and headers become a core :class:`Request`, and which static file a path
names (python-socketio's ``static_files`` mapping, resolved by :mod:`.static`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from ..engineio.core import Request
from . import static
from .static import StaticFile

__all__ = [
    "Mount",
    "StaticFile",
    "make_request",
    "mount_path",
    "parse_query",
]


def mount_path(path: str | None) -> str | None:
    """``'socket.io'`` -> ``'/socket.io/'``; None (every path is the server's) stays None."""
    if path is None:
        return None
    return "/" + path.strip("/") + "/"


def parse_query(query_string: str) -> dict[str, str]:
    """The query's parameters, the first value of each (``urllib.parse.parse_qsl`` with
    blank values kept, done by hand: every polling request pays for it)."""
    if not query_string:
        return {}
    query: dict[str, str] = {}
    escaped = "%" in query_string or "+" in query_string
    for part in query_string.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if escaped:
            key = unquote(key.replace("+", " "))
            value = unquote(value.replace("+", " "))
        if key not in query:
            query[key] = value
    return query


def make_request(
    method: str,
    query_string: str,
    headers: Mapping[str, str],
    environ_factory: Callable[[], dict[str, Any]],
    scheme: str,
) -> Request:
    return Request(method, parse_query(query_string), headers, environ_factory, scheme)


def wsgi_environ(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    scheme: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A WSGI-style environ, which python-socketio passes to ``connect`` handlers."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query_string,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "https" if scheme in ("https", "wss") else "http",
    }
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    if server:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1])
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key == "CONTENT_LENGTH":
            environ["CONTENT_LENGTH"] = value
        else:
            environ["HTTP_" + key] = value
    if extra:
        environ.update(extra)
    return environ


class Mount:
    """A server mounted at a path, with static files and another app for everything else:
    what :class:`~socketwire.ASGIApp` and :class:`~socketwire.WSGIApp` have in common, and
    what the native server serves. Mounts chain: ``other`` may itself be a Mount."""

    #: "asgi" or "wsgi": how ``other`` is called
    kind = "asgi"

    def __init__(
        self,
        server: Any,
        other: Any,
        static_files: dict[str, Any] | None,
        path: str | None,
        static_follow_symlinks: bool = False,
    ) -> None:
        self.server = server
        self.other = other
        self.static_files = static_files or {}
        #: True: symlinks inside a mapped folder may lead anywhere (see transports.static)
        self.static_follow_symlinks = static_follow_symlinks
        self.path = mount_path(path)

    def route(self, path: str) -> Any:
        """The server mounted at ``path`` (this mount's or a chained one's), or None. A
        mount made with ``socketio_path=None`` takes every path (routing is done outside)."""
        if self.path is None or path.startswith(self.path) or path + "/" == self.path:
            return self.server
        if isinstance(self.other, Mount):
            return self.other.route(path)
        return None

    def static(self, path: str, *, decoded: bool = False) -> StaticFile | None:
        """The static file ``path`` names here or down the chain. ``decoded``: the server
        already percent-decoded the path (ASGI ``path``, WSGI ``PATH_INFO``)."""
        found = static.resolve(
            self.static_files,
            path,
            decoded=decoded,
            follow_symlinks=self.static_follow_symlinks,
        )
        if found is None and isinstance(self.other, Mount):
            return self.other.static(path, decoded=decoded)
        return found

    def start_managers(self) -> None:
        """Subscribe the message-queue managers of the mounted servers now (an asyncio one
        needs the running loop), so a node without clients still hears its cluster."""
        manager = getattr(self.server, "manager", None)
        if manager is not None:
            manager.start()
        if isinstance(self.other, Mount):
            self.other.start_managers()

    def fallback(self) -> tuple[str, Any] | None:
        """The first non-mount app down the chain, with its kind."""
        other = self.other
        if isinstance(other, Mount):
            return other.fallback()
        if other is None:
            return None
        return self.kind, other
