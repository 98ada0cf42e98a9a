"""Steady traffic during a Phase 2 experiment: every request's time, fate and the task that answered.

Two paths to the same service. The lab's: ``localhost:8080`` through the ingress routing mesh.
Where the kernel has no IPVS the mesh and the service VIP do not answer, so a probe container joins
the stack's overlay network, resolves ``tasks.<service>`` itself and spreads requests round robin over
the tasks Swarm currently lists, which is the same set the mesh would balance over.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import docker.errors
from docker.models.containers import Container

from .engine import Engine
from .traffic import Reply, fetch, run
from .waiting import poll

# Requests per second while an experiment runs. The lab's own loop sends 1; at 50 a task that gets traffic
# before it listens (about 0.1-0.5 s after it starts) is hit several times per update, not by luck.
STEADY_RATE = 50.0

PROBE_SCRIPT = r'''
import json, socket, sys, threading, time, re
svc, port, interval, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
greet = re.compile(rb"(Hello|Greetings) from ([\w.\-]+)")
n = [0]
def one(t, ip):
    rec = {"t": t, "ip": ip}
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
        s.settimeout(max(0.1, timeout - (time.time() - t)))
        s.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        if data.startswith(b"HTTP/1.") and len(data) >= 12:
            rec["status"] = int(data[9:12])
            m = greet.search(data)
            if m:
                rec["greeting"], rec["host"] = m.group(1).decode(), m.group(2).decode()
        else:
            rec["err"] = "reset"
    except ConnectionRefusedError:
        rec["err"] = "refused"
    except socket.timeout:
        rec["err"] = "timeout"
    except OSError as e:
        rec["err"] = "reset" if e.errno in (104, 32) else "os-error-%s" % e.errno
    rec["s"] = round(time.time() - t, 4)
    sys.stdout.write(json.dumps(rec) + "\n")  # one write per record: threads never interleave a line
    sys.stdout.flush()
next_at = time.time()
while True:
    t = time.time()
    try:
        ips = sorted({a[4][0] for a in socket.getaddrinfo("tasks." + svc, port, socket.AF_INET, socket.SOCK_STREAM)})
    except OSError:
        ips = []
    if ips:
        threading.Thread(target=one, args=(t, ips[n[0] % len(ips)]), daemon=True).start()
        n[0] += 1
    else:
        sys.stdout.write(json.dumps({"t": t, "err": "no-tasks-in-dns", "s": 0}) + "\n")
        sys.stdout.flush()
    next_at += interval
    time.sleep(max(0.0, next_at - time.time()))
'''


@dataclass
class Timeline:
    """All requests so far (``Reply.start`` in wall-clock time, as engine events are); experiments look
    at the window they ran in."""

    path: str = ""
    samples: list[Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Reply) -> None:
        with self._lock:
            self.samples.append(sample)

    def window(self, start: float, end: float) -> list[Reply]:
        with self._lock:
            return [s for s in self.samples if start <= s.start <= end]

    def wait_for(self, count: int, after: float, timeout: float) -> list[Reply]:
        """Block until ``count`` samples newer than ``after`` have arrived (or ``timeout``)."""
        got, _ = poll(lambda: self.window(after, float("inf")), lambda s: len(s) >= count, timeout, interval=0.1)
        return got


def summarize(samples: list[Reply]) -> dict[str, Any]:
    """Counts a teacher asks for: total, failed by kind, answers by task and by greeting."""
    failed = [s for s in samples if not s.ok]
    return {
        "requests": len(samples),
        "failed": len(failed),
        "failures": dict(Counter(s.fate for s in failed)),
        "by_task": dict(Counter(s.answered_by for s in samples if s.ok and s.answered_by)),
        "by_greeting": dict(Counter(s.greeting for s in samples if s.ok and s.greeting)),
        "first_failures": [{"t": round(s.start, 2), "fate": s.fate} for s in failed[:10]],
    }


class NetworkProbe:
    """A probe container on the stack's overlay network, sending ``rate`` requests per second."""

    def __init__(self, engine: Engine, image: str, network: str, service: str, timeline: Timeline,
                 rate: float = STEADY_RATE, timeout: float = 3.0, port: int = 5000) -> None:
        self.engine, self.image, self.network, self.service = engine, image, network, service
        self.timeline, self.rate, self.timeout, self.port = timeline, rate, timeout, port
        self.container: Container | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> NetworkProbe:
        self.timeline.path = f"in-network probe on {self.network} → tasks.{self.service}:{self.port} (round robin)"
        self.container = self.engine.client.containers.run(
            self.image, ["python3", "-c", PROBE_SCRIPT, self.service, str(self.port), str(1 / self.rate), str(self.timeout)],
            entrypoint=[], detach=True, network=self.network, labels=self.engine.labels, name=f"orchlab-probe-{self.engine.run_id}",
        )
        self._reader = threading.Thread(target=self._read, name="orchlab-probe", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.container is not None
        buffer = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True, stdout=True, stderr=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    try:
                        self.timeline.add(_sample(json.loads(line)))
                    except (ValueError, KeyError):
                        continue  # not a record (blank, or a Python warning on stdout)
        except (docker.errors.APIError, OSError):
            return

    def logs(self) -> str:
        """The probe's last output lines, for a message when it reports nothing."""
        if self.container is None:
            return "-"
        try:
            return " | ".join(self.container.logs(tail=5).decode(errors="replace").splitlines()) or "-"
        except docker.errors.APIError:
            return "-"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except docker.errors.APIError:
                pass


def _sample(rec: dict[str, Any]) -> Reply:
    return Reply(rec["t"], rec.get("s", 0.0), rec.get("status"), rec.get("err"), rec.get("greeting"), rec.get("host"))


class HostProbe:
    """The lab's path: requests from this machine to the published port, ``rate`` per second."""

    def __init__(self, host: str, port: int, timeline: Timeline, rate: float = STEADY_RATE, timeout: float = 3.0) -> None:
        self.host, self.port, self.timeline, self.rate, self.timeout = host, port, timeline, rate, timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def _run(self) -> None:
        import asyncio

        async def one(t: float) -> None:
            self.timeline.add(dataclasses.replace(await fetch(self.host, self.port, "/", self.timeout), start=t))

        pending: set[asyncio.Task[None]] = set()
        next_at = time.time()
        while not self._stop.is_set():
            task = asyncio.create_task(one(time.time()))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += 1 / self.rate
            await asyncio.sleep(max(0.0, next_at - time.time()))
        if pending:
            await asyncio.wait(pending, timeout=self.timeout + 1)

    def __enter__(self) -> HostProbe:
        self.timeline.path = f"published port {self.host}:{self.port} (ingress routing mesh)"
        self._thread = threading.Thread(target=run, args=(self._run(),), name="orchlab-host-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 2)
