"""Loopback servers the unit tests of the probes share (no Docker needed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Hello(BaseHTTPRequestHandler):
    """The lab's app as the probes see it: ``Hello from host-1`` on ``/``, 404 elsewhere."""

    def do_GET(self) -> None:  # noqa: N802
        body = b"<h1>Hello from host-1</h1>" if self.path == "/" else b"nope"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """The port of a :class:`Hello` server on loopback."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
