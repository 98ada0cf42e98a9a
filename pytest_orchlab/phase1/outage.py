"""Phase 1 실습 3: ``docker kill web-app``, watch the outage, recover by hand, time the downtime."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.container import WebContainer
from pytest_orchlab.measure.traffic import Reply, probe
from pytest_orchlab.measure.waiting import poll


@dataclass
class Outage:
    """What the kill and the manual recovery looked like from the published port."""

    served_before: Reply
    after_kill: list[Reply] = field(default_factory=list)
    status_after_kill: str = ""
    restarted_by_engine: bool = False
    exit_code: int | None = None
    restart_policy: str = ""
    restart_issued_after: float = 0.0
    first_success: Reply | None = None
    downtime: float | None = None
    recovery_after_start: float | None = None
    logs_after_kill: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.after_kill) and all(not r.ok for r in self.after_kill)


def measure_outage(
    web: WebContainer, probes: int = 5, probe_interval: float = 0.2, recover_timeout: float = 15.0,
    progress: Progress = print,
) -> Outage:
    """Kill, probe like ``curl http://localhost:8080``, then ``docker start`` and poll every 0.1 s."""
    host, port = web.host, web.host_port
    outage = Outage(served_before=probe(host, port, "/health"))
    web.kill()
    killed = time.monotonic()
    for _ in range(probes):
        outage.after_kill.append(probe(host, port, "/", timeout=1.0))
        time.sleep(probe_interval)
    web.container.reload()
    state = web.container.attrs["State"]
    outage.status_after_kill = str(state["Status"])
    outage.exit_code = state.get("ExitCode")
    outage.restarted_by_engine = bool(state.get("Running"))
    outage.restart_policy = str(web.container.attrs["HostConfig"].get("RestartPolicy", {}).get("Name") or "no")
    # 수동 복구: a person notices (docker ps -a), reads the logs, and starts it again.
    outage.logs_after_kill = web.logs(5)
    outage.restart_issued_after = time.monotonic() - killed
    web.start()
    started = time.monotonic()
    progress(f"orchlab: docker start web-app; polling {host}:{port} every 0.1 s (up to {recover_timeout:.0f} s) ...")
    reply, _ = poll(lambda: probe(host, port, "/health", timeout=1.0), lambda r: r.ok, recover_timeout, 0.1)
    if reply.ok:
        outage.first_success = reply
        outage.downtime = reply.start + reply.seconds - killed
        outage.recovery_after_start = reply.start + reply.seconds - started
    return outage
