"""Container CPU use, computed exactly as ``docker stats`` does from the Engine's stats API."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docker.models.containers import Container


ONE_CORE = 100.0


def cpu_percent(sample: dict[str, Any]) -> float | None:
    """CPU % of one streamed stats sample (100 % = one core), or None when it has no baseline.

    ``docker stats``: (container CPU delta / system CPU delta) x online CPUs x 100. The first
    streamed sample has an empty ``precpu_stats`` and always reads 0, so it gives None here.
    """
    cpu, pre = sample.get("cpu_stats") or {}, sample.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage")
    system, pre_system = cpu.get("system_cpu_usage"), pre.get("system_cpu_usage")
    if not total or not pre_total or not system or not pre_system:
        return None
    cpu_delta, system_delta = total - pre_total, system - pre_system
    if system_delta <= 0 or cpu_delta < 0:
        return None
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    return float(cpu_delta) / float(system_delta) * float(online) * 100.0


def cpu_ceiling(host_config: dict[str, Any]) -> tuple[float, str]:
    """The most CPU % this container can show, and why.

    A CPU limit (``--cpus`` or quota/period) caps it; otherwise the lab app is one Python process
    whose interpreter lock keeps it on one core, so 100 % (one core) is its real ceiling.
    """
    nano = host_config.get("NanoCpus") or 0
    if nano:
        return min(ONE_CORE, nano / 1e9 * 100.0), f"--cpus limit {nano / 1e9:g}"
    quota, period = host_config.get("CpuQuota") or 0, host_config.get("CpuPeriod") or 0
    if quota > 0 and period > 0:
        return min(ONE_CORE, quota / period * 100.0), f"CPU quota {quota}/{period}"
    return ONE_CORE, "no CPU limit: one core for a single-process Python app"


def cpu_usage_ns(container: Container) -> int:
    """The container's cumulative CPU time in ns (``cpu_stats.cpu_usage.total_usage``), read once.

    A counter, not a rate: two reads around an experiment give its exact CPU time, however the
    stats stream's one-second samples fall against the experiment's window.
    """
    stats = container.stats(stream=False, one_shot=True)
    return int(((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)


@dataclass
class CpuSampler:
    """Streams stats in a background thread while an experiment runs: ``with CpuSampler(c) as s:``."""

    container: Container
    samples: list[tuple[float, float]] = field(default_factory=list)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            for sample in self.container.stats(stream=True, decode=True):
                pct = cpu_percent(sample)
                if pct is not None:
                    self.samples.append((time.monotonic(), pct))
                if self._stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - recorded: the verdict says the stream broke, not "low CPU"
            if not self._stop.is_set():
                self.error = f"the engine's stats stream broke: {type(exc).__name__}: {exc}"
            return
        if not self._stop.is_set():
            self.error = "the engine's stats stream ended early (the container stopped?)"

    def __enter__(self) -> CpuSampler:
        self._thread = threading.Thread(target=self._run, name="orchlab-cpu", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def between(self, start: float, end: float) -> list[float]:
        """CPU % of the samples taken in ``[start, end]`` (monotonic seconds)."""
        return [pct for when, pct in self.samples if start <= when <= end]


def kubernetes_servers() -> list[str]:
    """Kubernetes servers running on this machine (k3s, minikube's or kind's are containers, seen by their kubelet):
    an idle one takes about 30 % of a core, enough to spoil a saturation measurement on two cores."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = proc.read_bytes().split(b"\0")
        except OSError:
            continue
        name = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        if name in ("kube-apiserver", "kubelet") or (name == "k3s" and b"server" in argv):
            found.append(f"{name} (pid {proc.parent.name})")
    return found
