"""Static files (python-socketio's ``static_files`` mapping), decided once for every
transport, without I/O beyond ``stat``.

Theory of operation. A request path is reduced to a list of plain segments before any
file name is built: it is percent-decoded exactly once (never twice: ``%252e`` stays the
literal name ``%2e``), and refused outright if it contains a NUL, a backslash, an encoded
separator (``%2F``, ``%5C``), an empty segment (``//``, the way ``/static//etc/passwd``
smuggles an absolute path into ``os.path.join``) or a ``.``/``..`` segment. Only then is the
mapping consulted (exact entries first, then the longest directory prefix). The file found
must resolve, symlinks followed, inside the mapped folder; a symlink leading out of it is
refused unless the mount was made with ``static_follow_symlinks=True``. An entry that maps a
URL to one file serves that file, wherever it is: the application named it.

Files are never read whole: :meth:`StaticFile.chunks` yields :data:`CHUNK_SIZE` pieces, and
every transport writes them as the client takes them. ``HEAD``, ``ETag`` and
``Last-Modified`` (``If-None-Match`` / ``If-Modified-Since`` -> 304) are answered here.
"""

from __future__ import annotations

import email.utils
import logging
import mimetypes
import os
import stat
from collections.abc import Generator, Mapping
from typing import Any, BinaryIO
from urllib.parse import unquote

__all__ = ["CHUNK_SIZE", "MAX_FILE_SIZE", "StaticFile", "resolve"]

logger = logging.getLogger("socketwire.server")

#: bytes read and written at a time
CHUNK_SIZE = 64 * 1024
#: files larger than this are not served (404, logged): a static mapping is for an app's
#: pages and assets, not for downloads of arbitrary size
MAX_FILE_SIZE = 1024 * 1024 * 1024

_TEXT_TYPES = ("application/javascript", "application/json", "image/svg+xml")


class StaticFile:
    """A file to serve: its path, content type and validators (``stat`` taken once)."""

    __slots__ = ("content_type", "etag", "last_modified", "mtime", "path", "size")

    def __init__(self, path: str, content_type: str, st: os.stat_result) -> None:
        self.path = path
        self.content_type = content_type
        self.size = st.st_size
        self.mtime = int(st.st_mtime)
        self.etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        self.last_modified = email.utils.formatdate(self.mtime, usegmt=True)

    def answer(
        self, method: str, headers: Mapping[str, str]
    ) -> tuple[int, list[tuple[str, str]], bool]:
        """``(status, headers, send_body)`` for a GET or HEAD of this file with the
        request's (lower-case) ``headers``. A 200 carries ``Content-Length``."""
        validators = [("ETag", self.etag), ("Last-Modified", self.last_modified)]
        if _not_modified(headers, self.etag, self.mtime):
            return 304, validators, False
        out = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(self.size)),
            *validators,
        ]
        return 200, out, method != "HEAD"

    def open(self) -> BinaryIO:
        return open(self.path, "rb")

    def chunks(self) -> Generator[bytes, None, None]:
        """The file's bytes, :data:`CHUNK_SIZE` at a time (at most :attr:`size` bytes, so
        a file that grows while it is sent cannot break the announced length)."""
        left = self.size
        with self.open() as f:
            while left > 0:
                chunk = f.read(min(CHUNK_SIZE, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


def _not_modified(headers: Mapping[str, str], etag: str, mtime: int) -> bool:
    match = headers.get("if-none-match")
    if match is not None:
        # RFC 9110 13.1.2: weak comparison; If-Modified-Since is then ignored
        tags = [tag.strip().removeprefix("W/") for tag in match.split(",")]
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since is not None:
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False
        return when is not None and mtime <= when.timestamp()
    return False


def segments(path: str, *, decoded: bool) -> list[str] | None:
    """The plain segments of a URL path, or None when it is refused (see the module
    docstring). ``decoded``: the server already percent-decoded it (WSGI ``PATH_INFO``,
    ASGI ``path``), so it is not decoded again."""
    if not decoded:
        lowered = path.lower()
        if "%2f" in lowered or "%5c" in lowered or "%00" in lowered:
            return None
        try:
            path = unquote(path, errors="strict")
        except UnicodeDecodeError:
            return None
    if "\x00" in path or "\\" in path or not path.startswith("/"):
        return None
    parts = path[1:].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash: a directory request
    for part in parts:
        if part in ("", ".", ".."):
            return None
    return parts


def resolve(
    static_files: Mapping[str, Any] | None,
    path: str,
    *,
    decoded: bool = False,
    follow_symlinks: bool = False,
) -> StaticFile | None:
    """The file ``path`` names in ``static_files``, or None (see the module docstring).

    Mapping keys are URL paths; values are a file or directory name, or a dict with
    ``filename`` and ``content_type``. A directory request gets the file named by the
    ``''`` key (default ``index.html``)."""
    if not static_files:
        return None
    parts = segments(path, decoded=decoded)
    if parts is None:
        return None
    clean = "/" + "/".join(parts)
    directory_request = path.endswith("/") and bool(parts)
    if directory_request:
        entry = static_files.get(clean + "/")
        if entry is None:
            entry = static_files.get(clean)
    else:
        entry = static_files.get(clean)
        if entry is None and clean != "/":
            entry = static_files.get(clean + "/")
    rest: list[str] = []
    if entry is None:
        entry, rest = _longest_prefix(static_files, parts)
        if entry is None:
            return None
    content_type = None
    if isinstance(entry, dict):
        content_type = entry.get("content_type")
        entry = entry.get("filename")
    if not isinstance(entry, str):
        return None
    base = entry
    target = os.path.join(base, *rest) if rest else base
    if os.path.isdir(target):
        index = static_files.get("", "index.html")
        if isinstance(index, dict):
            content_type = index.get("content_type")
            index = index.get("filename", "index.html")
        if not isinstance(index, str) or "/" in index or "\\" in index or index in ("", ".."):
            return None
        target = os.path.join(target, index)
    if rest or target != base:
        # a name built from the request: it must stay inside the mapped folder
        if not _inside(target, base, follow_symlinks):
            return None
    try:
        st = os.stat(target)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if st.st_size > MAX_FILE_SIZE:
        logger.warning("static file %s is over %d bytes: not served", target, MAX_FILE_SIZE)
        return None
    if content_type is None:
        content_type = _content_type(target)
    return StaticFile(target, content_type, st)


def _longest_prefix(static_files: Mapping[str, Any], parts: list[str]) -> tuple[Any, list[str]]:
    """The entry of the longest mapped directory prefix of ``parts`` and what follows it."""
    for cut in range(len(parts), -1, -1):
        prefix = "/" + "/".join(parts[:cut])
        for key in (prefix, prefix + "/") if prefix != "/" else ("/",):
            entry = static_files.get(key)
            if entry is not None and (cut < len(parts) or key.endswith("/")):
                return entry, parts[cut:]
    return None, []


def _inside(target: str, base: str, follow_symlinks: bool) -> bool:
    base_real = os.path.realpath(base)
    if follow_symlinks:
        # the lexical path must stay inside; where its links lead is the app's business
        lexical = os.path.normpath(target)
        return os.path.commonpath([lexical, os.path.normpath(base)]) == os.path.normpath(base)
    real = os.path.realpath(target)
    try:
        return os.path.commonpath([real, base_real]) == base_real
    except ValueError:
        return False


def _content_type(path: str) -> str:
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in _TEXT_TYPES:
        content_type += "; charset=utf-8"
    return content_type
