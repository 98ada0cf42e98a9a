"""The in-network probe's script, run on loopback: a real DNS answer, real sockets, the script as the container runs it."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from pytest_orchlab.swarm import probe_script
from pytest_orchlab.swarm.probe import PROBE_SCRIPT, _records, _sample
from tests.unit.test_traffic import free_port


class Dns:
    """A UDP DNS server on loopback answering every A question with ``ips``, in that order."""

    def __init__(self, ips: list[str]) -> None:
        self.ips, self.asked = ips, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return
            self.asked += 1
            end = query.index(b"\0", 12) + 5  # header, the name, type and class
            answers = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + socket.inet_aton(ip) for ip in self.ips)
            header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, len(self.ips), 0, 0)
            self.sock.sendto(header + query[12:end] + answers, peer)


def test_the_dns_answer_is_read_in_the_servers_order() -> None:
    dns = Dns(["127.0.0.3", "127.0.0.1", "127.0.0.2"])
    got = probe_script.resolve(probe_script.nameserver(dns.address), probe_script.question("tasks.webapp_web"))
    assert got == ["127.0.0.3", "127.0.0.1", "127.0.0.2"] and dns.asked == 1


def test_one_loop_carries_answers_refusals_and_both_kinds_of_timeout(server: int) -> None:
    with socket.socket() as silent, socket.socket() as full:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts, never answers
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        queued = socket.create_connection(full.getsockname(), timeout=1)  # listen(0) holds one: the next SYN is dropped
        try:
            records, began = {}, time.time()
            for name, port in (("ok", server), ("refused", free_port()), ("answer", silent.getsockname()[1]),
                               ("connect", full.getsockname()[1])):
                loop = probe_script.Probe(port, timeout=0.4)
                loop.send(time.time(), "127.0.0.1", 3)
                while loop.flying and time.time() - began < 5:
                    loop.run_until(time.time() + 0.05)
                assert len(loop.out) == 1 and not loop.flying, name
                records[name] = _sample(loop.out[0])
        finally:
            queued.close()
    assert records["ok"].ok and records["ok"].greeting == "Hello" and records["ok"].answered_by == "host-1"
    assert records["refused"].fate == "refused" and records["refused"].stalled is None
    assert records["answer"].fate == "timeout" and records["answer"].stalled == "answer"
    assert records["connect"].fate == "timeout" and records["connect"].stalled == "connect"
    assert 0.4 <= records["connect"].seconds < 0.6  # the request's own deadline, not the loop's end


def test_many_requests_in_flight_do_not_wait_for_each_other(server: int) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        loop = probe_script.Probe(silent.getsockname()[1], timeout=0.5)
        for _ in range(20):
            loop.send(time.time(), "127.0.0.1", 1)
        loop.port = server
        loop.send(time.time(), "127.0.0.1", 1)  # sent last, beside twenty silent ones
        loop.run_until(time.time() + 0.3)
        assert [r["status"] for r in loop.out] == [200]  # answered before the silent ones time out
        loop.run_until(time.time() + 0.5)
    assert len(loop.out) == 21 and sum(r.get("stalled") == "answer" for r in loop.out) == 20


def test_the_script_as_the_container_runs_it(server: int, tmp_path: Path) -> None:
    dns, pause = Dns(["127.0.0.1"]), tmp_path / "pause"
    run = subprocess.Popen([sys.executable, "-c", PROBE_SCRIPT, "webapp_web", str(server), "0.02", "1.0", dns.address, str(pause)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        lines: list[str] = []
        began = time.time()
        while time.time() - began < 1.0:
            lines.append(run.stdout.readline())
        pause.touch()
        time.sleep(0.3)  # a request in flight when paused is still reported
        asked = dns.asked
        time.sleep(0.3)
        assert dns.asked == asked  # paused: no new request
    finally:
        run.kill()
        run.wait()
    records = [rec for line in lines for rec in _records(line.encode())]
    assert 25 <= len(records) <= 55  # 50 a second for a second
    assert len(lines) <= 12  # batched: about ten lines a second, not one per request
    assert all(_sample(rec).ok and rec["n"] == 1 for rec in records)
    starts = sorted(rec["t"] for rec in records)
    gaps = sorted(b - a for a, b in zip(starts, starts[1:], strict=False))
    assert 0.015 < gaps[len(gaps) // 2] < 0.025  # paced at the interval, not in bursts


def test_lines_that_are_not_records_are_skipped() -> None:
    assert _records(b"") == [] and _records(b"DeprecationWarning: ...") == [] and _records(b'[{"x": 1}, 3]') == []
    assert [r["t"] for r in _records(b'[{"t": 1.5, "s": 0.1, "status": 200}]')] == [1.5]
    assert _sample({"t": 1.0, "err": "timeout", "stalled": "elsewhere"}).stalled is None  # only the two kinds are believed


def test_an_answer_that_came_while_the_loop_was_away_is_read_before_its_deadline_is_judged(server: int) -> None:
    loop = probe_script.Probe(server, timeout=0.3)
    loop.send(time.time(), "127.0.0.1", 1)
    while loop.flying and not next(iter(loop.flying)).connected:
        loop.run_until(time.time() + 0.01)  # connected and sent: the answer is on its way
    time.sleep(0.5)  # the loop is away past the deadline (a DNS answer that took this long)
    loop.run_until(time.time())
    assert [(r.get("status"), r.get("err")) for r in loop.out] == [(200, None)]
