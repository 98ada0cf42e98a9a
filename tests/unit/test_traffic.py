"""The load generator against real sockets on loopback (no Docker needed)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_orchlab.measure.traffic import load, percentile, probe


class Hello(BaseHTTPRequestHandler):
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
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_reads_status_and_greeting(server: int) -> None:
    r = probe("127.0.0.1", server, "/")
    assert r.ok and r.greeting == "Hello" and r.answered_by == "host-1"
    assert probe("127.0.0.1", server, "/missing").fate == "http-404"


def test_refused_and_timeout_are_told_apart() -> None:
    assert probe("127.0.0.1", free_port()).fate == "refused"
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        assert probe("127.0.0.1", silent.getsockname()[1], timeout=0.3).fate == "timeout"


def test_load_counts_every_request(server: int) -> None:
    step = load("127.0.0.1", server, concurrency=8, seconds=0.5)
    assert step.succeeded > 20 and step.failed == 0 and step.rps > 0
    assert step.summary()["concurrency"] == 8


def test_percentile() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 0.5) == pytest.approx(50.0, abs=1)


def test_bench_keeps_medians_and_prints_both_tools_cpu() -> None:
    from pytest_orchlab.measure.bench import Comparison, Round, median_round, table

    ab = median_round([Round(900, 97, 30), Round(880, 95, 28), Round(950, 99, 35)])
    assert ab == Round(900, 97, 30)
    row = Comparison(200, 5.0, ab, Round(918, 96, 70))
    assert round(row.ratio, 2) == 1.02
    head, line = table([row])
    assert "app CPU % (ab / orchlab)" in head and "tool CPU % (ab / orchlab)" in head
    assert line.split()[:4] == ["200", "900", "918", "1.02"] and "97 / 96" in line and "30 / 70" in line
