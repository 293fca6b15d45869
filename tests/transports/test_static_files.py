"""Static files on every transport that serves them: nothing outside the mapped folder is
ever served (every traversal form, raw on the wire, since HTTP client libraries normalise
paths), normal files come with their type and validators, HEAD and 304 work, and a large
file is streamed as the client reads it.

Transports: the native server (asyncio ``ASGIApp`` and threaded ``WSGIApp``), ``ASGIApp``
under uvicorn, ``WSGIApp`` under Werkzeug."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from werkzeug.serving import make_server

import socketwire
from socketwire.transports import static

HOST = "127.0.0.1"
SECRET = "TOPSECRET-7f3a"
MODES = ["native-async", "native-threaded", "uvicorn", "werkzeug"]

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """site/ is served; secret.txt and outside/ beside it must never be."""
    root = tmp_path / "site"
    (root / "static" / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "static" / "app.js").write_text("console.log(1)")
    (root / "static" / "style.css").write_text("body{}")
    (root / "static" / "index.html").write_text("static index")
    (root / "static" / "sub" / "index.html").write_text("sub index")
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET)
    (root / "static" / "link_out").symlink_to(tmp_path / "secret.txt")
    (root / "static" / "dir_out").symlink_to(tmp_path / "outside")
    (root / "static" / "link_in").symlink_to(root / "static" / "app.js")
    return root


def mapping(root: Path) -> dict[str, Any]:
    return {"/": str(root / "index.html"), "/static": str(root / "static")}


@contextlib.asynccontextmanager
async def serving(mode: str, files: dict[str, Any], **options: Any) -> AsyncIterator[int]:
    port = free_port()
    if mode.startswith("native"):
        server_obj: Any = (
            socketwire.AsyncServer() if mode == "native-async" else socketwire.Server()
        )
        app_cls = socketwire.ASGIApp if mode == "native-async" else socketwire.WSGIApp
        native = await socketwire.create_server(
            app_cls(server_obj, static_files=files, **options), HOST, port
        )
        try:
            yield port
        finally:
            native.close()
            await native.wait_closed()
        return
    if mode == "uvicorn":
        app = socketwire.ASGIApp(socketwire.AsyncServer(), static_files=files, **options)
        config = uvicorn.Config(app, host=HOST, port=port, log_level="error", lifespan="off")
        userver = uvicorn.Server(config)
        task = asyncio.ensure_future(userver.serve())
        try:
            for _ in range(400):
                if userver.started:
                    break
                await asyncio.sleep(0.025)
            assert userver.started, "uvicorn did not start"
            yield port
        finally:
            userver.should_exit = True
            await asyncio.wait_for(task, 10)
        return
    wsgi = socketwire.WSGIApp(socketwire.Server(), static_files=files, **options)
    wserver = make_server(HOST, port, wsgi, threaded=True)
    thread = threading.Thread(target=wserver.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        wserver.shutdown()
        thread.join(10)


async def raw(port: int, target: str, method: str = "GET", headers: str = "") -> bytes:
    """One request with ``target`` sent byte for byte; the whole answer (Connection: close)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n{headers}Connection: close\r\n\r\n"
            .encode("latin-1")
        )  # fmt: skip
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


def split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields, body


ATTACKS = [
    "/static//etc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/static/%2fetc%2fpasswd",
    "//etc/passwd",
    "///etc/passwd",
    "/%2Fetc%2Fpasswd",
    "/static/../../secret.txt",
    "/static/../secret.txt",
    "/static/%2e%2e/%2e%2e/secret.txt",
    "/static/%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/static/%252e%252e/%252e%252e/secret.txt",
    "/static/..%5c..%5csecret.txt",
    "/static/..\\..\\secret.txt",
    "/static/%00/../../secret.txt",
    "/static/app.js%00.html",
    "/static/sub/../../../secret.txt",
    "/%2e%2e/secret.txt",
    "/static/link_out",
    "/static/dir_out/secret.txt",
    "/static/./../../secret.txt",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
]


@pytest.mark.parametrize("mode", MODES)
async def test_nothing_outside_the_mapped_folder_is_served(site: Path, mode: str) -> None:
    async with serving(mode, mapping(site)) as port:
        for target in ATTACKS:
            status, _, body = split(await raw(port, target))
            assert status != 200, f"{target} answered 200"
            assert SECRET.encode() not in body and b"root:" not in body, target
        # the server is fine afterwards
        status, _, body = split(await raw(port, "/static/app.js"))
        assert (status, body) == (200, b"console.log(1)")


@pytest.mark.parametrize("mode", MODES)
async def test_files_types_head_and_validators(site: Path, mode: str) -> None:
    async with serving(mode, mapping(site)) as port:
        status, fields, body = split(await raw(port, "/"))
        assert (status, body) == (200, b"<h1>home</h1>")
        assert fields["content-type"] == "text/html; charset=utf-8"
        status, fields, body = split(await raw(port, "/static/app.js"))
        assert status == 200 and body == b"console.log(1)"
        assert "javascript" in fields["content-type"] and "charset=utf-8" in fields["content-type"]
        assert fields["content-length"] == "14"
        etag, modified = fields["etag"], fields["last-modified"]
        assert split(await raw(port, "/static/"))[2] == b"static index"
        assert split(await raw(port, "/static/sub/"))[2] == b"sub index"
        assert split(await raw(port, "/static/link_in"))[2] == b"console.log(1)"  # link inside
        assert split(await raw(port, "/static/missing.js"))[0] == 404

        status, fields, body = split(await raw(port, "/static/app.js", method="HEAD"))
        assert (status, body) == (200, b"") and fields["content-length"] == "14"

        status, fields, body = split(
            await raw(port, "/static/app.js", headers=f"If-None-Match: {etag}\r\n")
        )
        assert (status, body) == (304, b"") and fields["etag"] == etag
        status, _, _ = split(
            await raw(port, "/static/app.js", headers=f"If-Modified-Since: {modified}\r\n")
        )
        assert status == 304
        status, _, body = split(
            await raw(port, "/static/app.js", headers='If-None-Match: "other"\r\n')
        )
        assert (status, body) == (200, b"console.log(1)")
        status, _, _ = split(
            await raw(
                port,
                "/static/app.js",
                headers="If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n",
            )
        )
        assert status == 200


@pytest.mark.parametrize("mode", ["native-async", "uvicorn", "werkzeug"])
async def test_symlinks_out_are_served_only_when_asked(site: Path, mode: str) -> None:
    async with serving(mode, mapping(site), static_follow_symlinks=True) as port:
        status, _, body = split(await raw(port, "/static/link_out"))
        assert (status, body) == (200, SECRET.encode())
        status, _, body = split(await raw(port, "/static/dir_out/secret.txt"))
        assert (status, body) == (200, SECRET.encode())
        for target in ATTACKS[:17]:  # climbing out stays refused
            status, _, body = split(await raw(port, target))
            assert status != 200 and SECRET.encode() not in body, target


@pytest.mark.parametrize("mode", MODES)
async def test_large_file_streamed_as_the_client_reads(site: Path, mode: str) -> None:
    data = os.urandom(1024 * 1024) * 20  # 20 MiB
    (site / "static" / "big.bin").write_bytes(data)
    async with serving(mode, mapping(site)) as port:
        reader, writer = await asyncio.open_connection(HOST, port, limit=2**20)
        try:
            writer.write(f"GET /static/big.bin HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status, fields, _ = split(head)
            assert status == 200 and fields["content-length"] == str(len(data))
            digest = hashlib.sha256()
            got = 0
            while got < len(data):
                chunk = await asyncio.wait_for(reader.read(256 * 1024), 10)
                assert chunk, "connection closed early"
                digest.update(chunk)
                got += len(chunk)
            assert got == len(data) and digest.digest() == hashlib.sha256(data).digest()
        finally:
            writer.close()


async def test_native_download_memory_follows_the_reader(site: Path) -> None:
    """A client that stops reading a large download holds a bounded amount of the
    server's memory: the native server writes a chunk only when the previous ones left."""
    data = os.urandom(1024 * 1024) * 20
    (site / "static" / "big.bin").write_bytes(data)
    port = free_port()
    app = socketwire.ASGIApp(socketwire.AsyncServer(), static_files=mapping(site))
    native = await socketwire.create_server(app, HOST, port)
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect((HOST, port))
        try:
            sock.sendall(f"GET /static/big.bin HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not native.connections:
                assert loop.time() < deadline, "no connection"
                await asyncio.sleep(0.01)
            (connection,) = native.connections
            transport = connection.transport
            assert transport is not None
            # the kernel's buffers fill, then the server pauses: its own buffer stops growing
            while not connection._write_paused:
                assert loop.time() < deadline, "the server never had to wait for the reader"
                await asyncio.sleep(0.01)
            for _ in range(20):  # it stays paused, holding at most its buffer and a chunk
                await asyncio.sleep(0.01)
                assert transport.get_write_buffer_size() <= 64 * 1024 + 2 * static.CHUNK_SIZE
        finally:
            sock.close()
    finally:
        native.close()
        await native.wait_closed()


def test_resolver_refuses_before_touching_the_disk(tmp_path: Path) -> None:
    """The refusals that do not depend on the disk, fed straight to the resolver."""
    files = {"/static": str(tmp_path)}
    (tmp_path / "ok.txt").write_text("ok")
    assert static.resolve(files, "/static/ok.txt") is not None
    for path in ("/static//ok.txt", "/static/%2Fok.txt", "/static/%5Cok.txt", "/static/ok%00",
                 "/static/../static/ok.txt", "/static/./ok.txt", "static/ok.txt",
                 "/static/%ff.txt"):  # fmt: skip
        assert static.resolve(files, path) is None, path
    # a decoded path (WSGI, ASGI) is not decoded again: %2e%2e is a file name here
    assert static.resolve(files, "/static/%2e%2e", decoded=True) is None
    (tmp_path / "%2e%2e").write_text("literal")
    found = static.resolve(files, "/static/%2e%2e", decoded=True)
    assert found is not None and Path(found.path).read_text() == "literal"


def test_python_socketio_mapping_forms(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("page")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "default.htm").write_text("default")
    (tmp_path / "d" / "x.bin").write_text("x")
    files: dict[str, Any] = {
        "/": {"filename": str(tmp_path / "page.html"), "content_type": "text/x-mine"},
        "/files/": str(tmp_path / "d"),
        "": "default.htm",
    }
    root = static.resolve(files, "/")
    assert root is not None and root.content_type == "text/x-mine"
    index = static.resolve(files, "/files/")
    assert index is not None and index.path.endswith("default.htm")
    assert static.resolve(files, "/files") is not None
    found = static.resolve(files, "/files/x.bin")
    assert found is not None and found.content_type == "application/octet-stream"
    assert static.resolve(files, "/elsewhere") is None
