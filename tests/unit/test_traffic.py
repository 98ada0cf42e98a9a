"""The load generator against real sockets on loopback (no Docker needed)."""

from __future__ import annotations

import socket

import pytest

from pytest_orchlab.measure.timeline import summarize
from pytest_orchlab.measure.traffic import Reply, load, percentile, probe


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
        answered = probe("127.0.0.1", silent.getsockname()[1], timeout=0.3)
        assert answered.fate == "timeout" and answered.stalled == "answer"  # connected: the app kept silent
    assert probe("127.0.0.1", free_port()).stalled is None  # only a timeout says where it waited


def test_a_timeout_says_whether_it_waited_on_the_connection_or_on_the_answer() -> None:
    with socket.socket() as full:  # a listen queue already full: the kernel drops the next SYN, nothing answers it
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        queued = [socket.create_connection(full.getsockname(), timeout=1)]  # listen(0) holds one
        try:
            stalled = probe("127.0.0.1", full.getsockname()[1], timeout=0.3)
        finally:
            for s in queued:
                s.close()
    assert stalled.fate == "timeout" and stalled.stalled == "connect"
    samples = [stalled, Reply(0.0, 0.01, 200), Reply(0.0, 0.03, 200), Reply(0.0, 0.3, error="timeout", stalled="answer")]
    seen = summarize(samples)
    assert seen["timeouts_waited_on"] == {"connect": 1, "answer": 1} and seen["failures"] == {"timeout": 2}
    assert seen["answer_s"] == {"median": 0.02, "p99": 0.0298, "slowest": 0.03} and summarize([])["answer_s"] == {}  # percentile(), as the load steps


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
