"""Phase 2 실습 5: ``docker service scale webapp_web=5`` and load balancing across the tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docker.models.services import Service

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.measure.timeline import Timeline, summarize
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.swarm.service import running, update_spec, wait_running


@dataclass
class ScaleOut:
    before: int
    desired: int
    converged: bool
    seconds: float
    tasks: list[dict[str, Any]] = field(default_factory=list)


def scale_out(engine: Engine, svc: Service, replicas: int = 5, timeout: float = 60.0, progress: Progress = print) -> ScaleOut:
    before = len(running(svc))
    progress(f"orchlab: docker service scale {svc.name}={replicas}; waiting up to {timeout:.0f} s ...")
    update_spec(engine, svc, lambda spec: spec.setdefault("Mode", {}).setdefault("Replicated", {}).update(Replicas=replicas))
    ok, waited, rows = wait_running(svc, replicas, timeout)
    return ScaleOut(before, replicas, ok, waited, rows)


@dataclass
class Balance:
    path: str
    samples: list[Reply]
    tasks: list[str]
    requested: int = 30
    traffic_errors: list[str] = field(default_factory=list)

    @property
    def answered_by(self) -> dict[str, int]:
        return dict(summarize(self.samples)["by_task"])


def balance(svc: Service, timeline: Timeline, requests: int = 30, timeout: float = 20.0) -> Balance:
    """``for i in {1..10}; do curl ... | grep "Hello from"; done``, three times over, from the steady traffic."""
    start = timeline.clock()
    samples = timeline.wait_for(requests, start, timeout)[:requests]
    tasks = [r["container"] for r in running(svc)]
    return Balance(timeline.path, samples, tasks, requests, list(timeline.errors))
