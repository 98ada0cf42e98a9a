"""The in-network probe itself: runs inside orchlab's probe container (plain ``python3``, standard library only).

    python3 -c "$(cat probe_script.py)" SERVICE PORT INTERVAL TIMEOUT [NAMESERVER[:PORT]] [PAUSE_FILE]

Every ``INTERVAL`` seconds it asks the engine's DNS for ``tasks.SERVICE`` and sends ``GET /`` to the first address
of the answer. One thread and one ``selectors`` loop carry every request in flight (no thread per request), and
the records go out as one JSON array per line every tenth of a second, so the engine's log pipe carries ten
messages a second instead of one per request. A record: ``t`` (sent), ``s`` (seconds taken), ``ip``, ``n``
(addresses in the answer), then ``status``/``greeting``/``host`` or ``err``, and for a timeout ``stalled``:
``connect`` (no SYN-ACK came: the network) or ``answer`` (connected, the app kept silent), as the host-side probe
of :mod:`pytest_orchlab.measure.traffic` says it.

A DNS query of its own rather than ``getaddrinfo``: glibc may re-sort several IPv4 answers (RFC 6724), which would
hide the engine's order.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import selectors
import socket
import struct
import sys
import time
from typing import Any

GREET = re.compile(rb"(Hello|Greetings) from ([\w.\-]+)")
REQUEST = b"GET / HTTP/1.0\r\nHost: web\r\n\r\n"
MAX_ANSWER = 65536  # bytes read of one answer: a longer one is judged on what came
FLUSH_S = 0.1


def nameserver(given: str | None) -> tuple[str, int]:
    """The DNS server to ask: the one given, else the container's first ``nameserver`` (Docker's 127.0.0.11)."""
    if given:
        host, _, port = given.partition(":")
        return host, int(port or 53)
    try:
        with open("/etc/resolv.conf") as conf:
            for line in conf:
                if line.startswith("nameserver"):
                    return line.split()[1], 53
    except OSError:
        pass
    return "127.0.0.11", 53


def question(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def skip_name(d: bytes, i: int) -> int:
    while d[i]:
        if d[i] & 0xC0 == 0xC0:
            return i + 2
        i += d[i] + 1
    return i + 1


def resolve(ns: tuple[str, int], qname: bytes) -> list[str]:
    """The A records of the answer, in the order the server gave them."""
    qid = random.getrandbits(16)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1), ns)
        d = s.recv(4096)
    finally:
        s.close()
    if struct.unpack(">H", d[:2])[0] != qid:
        raise OSError("dns id mismatch")
    count, i, ips = struct.unpack(">H", d[6:8])[0], skip_name(d, 12) + 4, []
    for _ in range(count):
        i = skip_name(d, i)
        rtype, _, _, length = struct.unpack(">HHIH", d[i:i + 10])
        if rtype == 1 and length == 4:
            ips.append(socket.inet_ntoa(d[i + 10:i + 14]))
        i += 10 + length
    return ips


def fate_of(code: int) -> str:
    if code == errno.ECONNREFUSED:
        return "refused"
    return "reset" if code in (errno.ECONNRESET, errno.EPIPE) else f"os-error-{code}"


class Request:
    """One request in flight: connecting, then reading the answer."""

    def __init__(self, t: float, ip: str, answers: int, port: int) -> None:
        self.rec: dict[str, Any] = {"t": t, "ip": ip, "n": answers}
        self.t, self.connected, self.data = t, False, b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        code = self.sock.connect_ex((ip, port))
        self.early = None if code in (0, errno.EINPROGRESS) else fate_of(code)


class Probe:
    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.sel = selectors.DefaultSelector()
        self.flying: set[Request] = set()
        self.out: list[dict[str, Any]] = []

    def send(self, t: float, ip: str, answers: int) -> None:
        r = Request(t, ip, answers, self.port)
        if r.early:
            self.finish(r, err=r.early)
            return
        self.flying.add(r)
        self.sel.register(r.sock, selectors.EVENT_WRITE, r)

    def finish(self, r: Request, err: str | None = None, stalled: str | None = None) -> None:
        if r in self.flying:
            self.flying.discard(r)
            self.sel.unregister(r.sock)
        r.sock.close()
        if err is None:
            data = r.data
            if data.startswith(b"HTTP/1.") and len(data) >= 12:
                r.rec["status"] = int(data[9:12])
                m = GREET.search(data)
                if m:
                    r.rec["greeting"], r.rec["host"] = m.group(1).decode(), m.group(2).decode()
            else:
                err = "reset"
        if err is not None:
            r.rec["err"] = err
        if stalled is not None:
            r.rec["stalled"] = stalled
        r.rec["s"] = round(time.time() - r.t, 4)
        self.out.append(r.rec)

    def ready(self, r: Request) -> None:
        if not r.connected:
            code = r.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.finish(r, err=fate_of(code))
                return
            r.connected = True
            try:
                r.sock.send(REQUEST)  # 35 bytes into an empty send buffer: sent whole
            except OSError as e:
                self.finish(r, err=fate_of(e.errno or 0))
                return
            self.sel.modify(r.sock, selectors.EVENT_READ, r)
            return
        while True:  # everything that has come: an answer and its end may sit in the buffer together
            try:
                chunk = r.sock.recv(MAX_ANSWER)
            except BlockingIOError:
                return
            except OSError as e:
                self.finish(r, err=fate_of(e.errno or 0))
                return
            r.data += chunk
            if not chunk or len(r.data) >= MAX_ANSWER:
                self.finish(r)
                return

    def run_until(self, until: float) -> None:
        """Serve sockets and deadlines until ``until``. A request is timed out only right after a look at the sockets, so
        an answer that came while the loop was away (a slow DNS answer) is read first; the deadline is the whole
        request's, so a trickling answer is a timeout."""
        while True:
            wait = max(0.0, min([until] + [r.t + self.timeout for r in self.flying]) - time.time())
            if self.flying:
                for key, _ in self.sel.select(wait):
                    self.ready(key.data)
            else:
                time.sleep(wait)
            now = time.time()
            for r in [r for r in self.flying if now - r.t >= self.timeout]:
                self.finish(r, err="timeout", stalled="answer" if r.connected else "connect")
            if now >= until:
                return

    def flush(self) -> None:
        if self.out:
            sys.stdout.write(json.dumps(self.out, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            self.out = []


def main(argv: list[str]) -> None:
    svc, port, interval, timeout = argv[0], int(argv[1]), float(argv[2]), float(argv[3])
    ns = nameserver(argv[4] if len(argv) > 4 else None)
    pause = argv[5] if len(argv) > 5 else "/tmp/orchlab-pause"
    qname = question("tasks." + svc)
    probe = Probe(port, timeout)
    next_at = flush_at = time.time()
    while True:
        now = time.time()
        if now >= flush_at:
            probe.flush()
            flush_at = now + FLUSH_S
        if now >= next_at:
            if os.path.exists(pause):  # orchlab paused us between two experiments: no new request until resumed
                next_at = now + 0.02
            else:
                try:
                    ips = resolve(ns, qname)
                except OSError:
                    ips = []
                if ips:
                    probe.send(now, ips[0], len(ips))
                else:
                    probe.out.append({"t": now, "err": "no-tasks-in-dns", "s": 0})
                next_at += interval
                if next_at < now - 1.0:
                    next_at = now  # fell behind by over a second (the machine stalled us): no burst to catch up
        probe.run_until(min(next_at, flush_at))


if __name__ == "__main__":
    main(sys.argv[1:])
