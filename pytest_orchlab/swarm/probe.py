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
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_orchlab.measure.steady import STEADY_RATE
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.measure.traffic import Reply

if TYPE_CHECKING:
    from docker.models.containers import Container

    from pytest_orchlab.docker.engine import Engine


# Runs inside the probe container: the file's text, given to ``python3 -c`` (the container has no orchlab).
PROBE_SCRIPT = (Path(__file__).parent / "probe_script.py").read_text(encoding="utf-8")


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
                    for rec in _records(line):
                        self.timeline.add(_sample(rec))
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


def _records(line: bytes) -> list[dict[str, Any]]:
    """The records of one output line (a JSON array of them); nothing for a line that is not ours (a Python warning)."""
    try:
        found = json.loads(line)
    except ValueError:
        return []
    found = found if isinstance(found, list) else [found]
    return [rec for rec in found if isinstance(rec, dict) and isinstance(rec.get("t"), (int, float))]


def _sample(rec: dict[str, Any]) -> Reply:
    stalled = rec.get("stalled") if rec.get("stalled") in ("connect", "answer") else None
    return Reply(rec["t"], rec.get("s", 0.0), rec.get("status"), rec.get("err"), rec.get("greeting"), rec.get("host"), rec.get("ip"),
                 stalled=stalled)
