"""What every transport decides the same way, without I/O: which server a path belongs to,
how a query string and headers become a core :class:`Request`, and which static file a path
names (python-socketio's ``static_files`` mapping)."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from ..engineio.core import Request

__all__ = [
    "Mount",
    "StaticFile",
    "make_request",
    "mount_path",
    "parse_query",
    "resolve_static",
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


class StaticFile:
    __slots__ = ("content_type", "path")

    def __init__(self, path: str, content_type: str) -> None:
        self.path = path
        self.content_type = content_type


def resolve_static(static_files: Mapping[str, Any] | None, path: str) -> StaticFile | None:
    """The file ``path`` names in ``static_files`` (exact entries first, then the longest
    directory prefix; a directory request gets its ``index.html``), or None. Paths that climb
    out of a mapped directory are refused."""
    if not static_files:
        return None
    path = unquote(path)
    entry = static_files.get(path) if path else None
    rest = ""
    if entry is None:
        best = ""
        for prefix in static_files:
            if not prefix:  # the '' key names the file a directory request gets
                continue
            base = prefix.rstrip("/") + "/"
            if (path.startswith(base) or path + "/" == base) and len(base) > len(best):
                best = base
        if not best:
            return None
        entry = (
            static_files.get(best)
            or static_files.get(best.rstrip("/"))
            or static_files.get(best.rstrip("/") or "/")
        )
        rest = path[len(best) :]
    content_type = None
    if isinstance(entry, dict):
        content_type = entry.get("content_type")
        entry = entry.get("filename")
    if not isinstance(entry, str):
        return None
    target = entry
    if rest or os.path.isdir(entry):
        if ".." in rest.split("/"):
            return None
        target = os.path.join(entry, rest)
        if os.path.isdir(target):
            index = static_files.get("", "index.html")
            if isinstance(index, dict):
                content_type = index.get("content_type")
                index = index.get("filename", "index.html")
            target = os.path.join(target, index)
    if not os.path.isfile(target):
        return None
    if content_type is None:
        content_type = mimetypes.guess_type(target)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in (
            "application/javascript",
            "application/json",
        ):
            content_type += "; charset=utf-8"
    return StaticFile(target, content_type)


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
    ) -> None:
        self.server = server
        self.other = other
        self.static_files = static_files or {}
        self.path = mount_path(path)

    def route(self, path: str) -> Any:
        """The server mounted at ``path`` (this mount's or a chained one's), or None. A
        mount made with ``socketio_path=None`` takes every path (routing is done outside)."""
        if self.path is None or path.startswith(self.path) or path + "/" == self.path:
            return self.server
        if isinstance(self.other, Mount):
            return self.other.route(path)
        return None

    def static(self, path: str) -> StaticFile | None:
        found = resolve_static(self.static_files, path)
        if found is None and isinstance(self.other, Mount):
            return self.other.static(path)
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
