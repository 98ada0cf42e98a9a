"""Steady traffic during a Phase 2 experiment, by one of two paths to the same service.

The lab's: ``localhost:8080`` through the ingress routing mesh (:class:`HostProbe`). Where the kernel
has no IPVS the mesh and the service VIP do not answer, so a probe container joins the stack's overlay
network (:class:`NetworkProbe`) and, for every request, asks Docker's embedded DNS for
``tasks.<service>`` and connects to the first address of the answer as the engine ordered it. The
engine shuffles that answer (DNS round robin, what ``endpoint_mode: dnsrr`` relies on), so which task
answers is the engine's choice, not a list the probe walks itself.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_orchlab.measure.steady import STEADY_RATE
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.measure.traffic import Reply

if TYPE_CHECKING:
    from docker.models.containers import Container

    from pytest_orchlab.docker.engine import Engine


# Runs inside the probe container (plain python3, no packages). A DNS query of its own rather than
# getaddrinfo: glibc may re-sort several IPv4 answers (RFC 6724), which would hide the engine's order.
PROBE_SCRIPT = r'''
import json, os, random, re, socket, struct, sys, threading, time
svc, port, interval, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
greet = re.compile(rb"(Hello|Greetings) from ([\w.\-]+)")
ns, PAUSE = "127.0.0.11", "/tmp/orchlab-pause"
for line in open("/etc/resolv.conf"):
    if line.startswith("nameserver"):
        ns = line.split()[1]
        break
qname = b"".join(bytes([len(p)]) + p.encode() for p in ("tasks." + svc).split(".")) + b"\0"
def skip_name(d, i):
    while d[i]:
        if d[i] & 0xC0 == 0xC0:
            return i + 2
        i += d[i] + 1
    return i + 1
def resolve():
    qid = random.getrandbits(16)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1), (ns, 53))
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
def one(t, ip, answers):
    rec = {"t": t, "ip": ip, "n": answers}
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
        s.settimeout(max(0.1, timeout - (time.time() - t)))
        s.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        data = b""
        while len(data) < 65536:  # bounded in bytes and in total time: a trickling answer is a timeout
            left = timeout - (time.time() - t)
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
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
    if os.path.exists(PAUSE):  # orchlab paused us between two experiments: no new request until resumed
        time.sleep(0.02)
        next_at = time.time()
        continue
    t = time.time()
    try:
        ips = resolve()
    except OSError:
        ips = []
    if ips:
        threading.Thread(target=one, args=(t, ips[0], len(ips)), daemon=True).start()
    else:
        sys.stdout.write(json.dumps({"t": t, "err": "no-tasks-in-dns", "s": 0}) + "\n")
        sys.stdout.flush()
    next_at += interval
    time.sleep(max(0.0, next_at - time.time()))
'''


class NetworkProbe:
    """A probe container on the stack's overlay network, sending ``rate`` requests per second."""

    def __init__(self, engine: Engine, image: str, network: str, service: str, timeline: Timeline,
                 rate: float = STEADY_RATE, timeout: float = 3.0, port: int = 5000) -> None:
        self.engine, self.image, self.network, self.service = engine, image, network, service
        self.timeline, self.rate, self.timeout, self.port = timeline, rate, timeout, port
        self.container: Container | None = None
        self._reader: threading.Thread | None = None
        self._closing = False

    def __enter__(self) -> NetworkProbe:
        self.timeline.clock = self.engine.now  # the probe stamps requests with the engine host's clock
        self.timeline.path = (f"in-network probe on {self.network} → tasks.{self.service}:{self.port} "
                              "(first address of the engine's DNS answer: the engine's own round robin)")
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
        except Exception as exc:  # noqa: BLE001 - recorded: verdicts on this timeline become not gradable
            if not self._closing:
                self.timeline.broke(f"the probe's output stream broke: {type(exc).__name__}: {exc}")
            return
        if not self._closing:
            self.timeline.broke(f"the probe container stopped: {self.logs()}")

    def pause(self) -> None:
        """No new request until :meth:`resume` (requests in flight finish and are recorded)."""
        self._signal("open('/tmp/orchlab-pause', 'w').close()")

    def resume(self) -> None:
        self._signal("import os; os.remove('/tmp/orchlab-pause')")

    def _signal(self, code: str) -> None:
        if self.container is not None:
            try:
                self.container.exec_run(["python3", "-c", code])
            except docker.errors.APIError as exc:
                self.timeline.broke(f"the probe could not be paused or resumed: {exc}")

    def logs(self) -> str:
        """The probe's last output lines, for a message when it reports nothing."""
        if self.container is None:
            return "-"
        try:
            return " | ".join(self.container.logs(tail=5).decode(errors="replace").splitlines()) or "-"
        except docker.errors.APIError:
            return "-"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._closing = True
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except docker.errors.APIError:
                pass


def _sample(rec: dict[str, Any]) -> Reply:
    return Reply(rec["t"], rec.get("s", 0.0), rec.get("status"), rec.get("err"), rec.get("greeting"), rec.get("host"), rec.get("ip"))
