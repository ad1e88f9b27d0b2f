"""A real HTTP server on 127.0.0.1 (a thread) that serves fixture files the way zoos do, and
misbehaves on request: drops the connection mid-file, answers 404 / 500, stalls, sends an
HTML page, redirects in a loop. Range requests are honoured (206), as by the zoos' CDNs.

    with ZooServer() as server:
        server.files["/a/file.pth"] = data
        server.faults["/a/file.pth"] = ["drop"]     # first GET drops halfway, then normal
        url = server.url("/a/file.pth")
        server.gets["/a/file.pth"]                  # GETs served, with their Range headers
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from videozoo.zoo import table


class _Handler(BaseHTTPRequestHandler):
    server_version = "ZooFixture/1.0"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        zoo = self.server.zoo
        path = self.path
        with zoo.lock:
            zoo.gets[path].append(self.headers.get("Range"))
            fault = zoo.faults[path].pop(0) if zoo.faults.get(path) else None
        if fault == "404" or (fault is None and path not in zoo.files):
            return self._plain(404, b"not found")
        if fault == "500":
            return self._plain(500, b"internal error")
        if fault == "html":
            return self._plain(200, b"<html><body>NoSuchBucket</body></html>", "text/html")
        if fault == "redirect":
            self.send_response(302)
            self.send_header("Location", path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if fault == "stall":
            time.sleep(zoo.stall_s)
        data = zoo.files[path]
        start = 0
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0])
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if fault == "drop":  # half of it, then the connection goes away
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        for i in range(0, len(body), zoo.chunk):
            self.wfile.write(body[i : i + zoo.chunk])
            if zoo.delay_s:
                time.sleep(zoo.delay_s)
        return None

    def _plain(self, code, body, content_type="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ZooServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.gets: dict[str, list] = defaultdict(list)
        self.lock = threading.Lock()
        self.stall_s = 2.0
        self.delay_s = 0.0
        self.chunk = 1 << 16
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # clients that gave up
        self.httpd.zoo = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_entry(
    monkeypatch, server: ZooServer, tag: str, data: bytes, *, folder: str = "/zoo", **changes
) -> table.Weight:
    """Point table entry ``tag`` at ``server`` (same published file name), serving ``data``;
    ``changes``: other fields to replace (e.g. ``sha256=``, ``overrides=``)."""
    entry = table.get(tag)
    path = f"{folder}/{entry.file}"
    server.files[path] = data
    patched = dataclasses.replace(entry, urls=(server.url(path),), **changes)
    monkeypatch.setitem(table._BY_TAG, tag, patched)
    return patched
