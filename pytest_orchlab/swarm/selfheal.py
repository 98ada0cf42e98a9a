"""Phase 2 실습 6: kill one task's container and watch Swarm replace it (자동 복구)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docker.models.services import Service

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.measure.waiting import poll
from pytest_orchlab.swarm.service import EventLog, running, task_rows


@dataclass
class Healing:
    desired: int
    killed_container: str
    killed_task: str
    killed_at: float
    replacement_task: str | None = None
    replacement_started_at: float | None = None
    replicas_after: int = 0
    samples: list[Reply] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_error: str | None = None
    traffic_errors: list[str] = field(default_factory=list)

    @property
    def recovery_seconds(self) -> float | None:
        if self.replacement_started_at is None:
            return None
        return self.replacement_started_at - self.killed_at


def kill_one_task(engine: Engine, svc: Service, timeline: Timeline, events: EventLog, timeout: float = 60.0, progress: Progress = print) -> Healing:
    """``docker kill`` the first running task's container, then wait for the service to be whole again."""
    tasks = running(svc)
    desired = len(tasks)
    victim = tasks[0]
    before = {r["id"] for r in task_rows(svc)}
    progress(f"orchlab: docker kill {victim['container']} (task slot {victim['slot']}); waiting for Swarm to replace it ...")
    engine.container(victim["container"]).kill()  # on whichever node runs the task
    heal = Healing(desired, victim["container"], victim["id"], engine.now())

    def look() -> list[dict[str, Any]]:
        svc.reload()
        return running(svc)

    rows, _ = poll(look, lambda rs: len(rs) == desired and any(r["id"] not in before for r in rs), timeout, 0.2)
    new = [r for r in rows if r["id"] not in before]
    heal.replicas_after = len(rows)
    heal.events = events.between(heal.killed_at - 1)
    if new:
        heal.replacement_task = new[0]["id"]
        starts = [e["t"] for e in heal.events if e["action"] == "start" and e["t"] >= heal.killed_at and new[0]["id"] in e["task"]]
        heal.replacement_started_at = starts[0] if starts else None
    heal.events_error, heal.traffic_errors = events.error, list(timeline.errors)
    end = (heal.replacement_started_at or engine.now()) + 2.0
    timeline.wait_for(1, end, 5.0)
    heal.samples = timeline.window(heal.killed_at, end)
    return heal
