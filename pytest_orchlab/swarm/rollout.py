"""Phase 2 실습 6: rolling update to ``simple-web:v2`` and ``docker service rollback``, measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docker.models.services import Service

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.measure.clock import NS, rfc3339
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.measure.waiting import poll
from pytest_orchlab.swarm.service import EventLog, running, spec_summary, update_spec

DONE_STATES = {"completed", "paused", "rollback_completed", "rollback_paused"}


@dataclass
class Rollout:
    """One update (or rollback) from start to the engine's final UpdateStatus."""

    kind: str
    target_image: str
    started: float
    ended: float = 0.0
    state: str = ""
    message: str = ""
    replicas: int = 0
    configured: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    samples: list[Reply] = field(default_factory=list)
    after: list[Reply] = field(default_factory=list)
    tasks_after: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    stop_grace_s: float = 10.0
    events_error: str | None = None
    traffic_errors: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def replacements(self) -> list[dict[str, float]]:
        """Per slot: when its old container was told to stop and when its new one started."""
        stops: dict[str, float] = {}
        creates: dict[str, float] = {}
        out = []
        for ev in self.events:
            slot = ev["task"].split(".")[1] if ev["task"].count(".") >= 2 else ev["container"]
            if ev["action"] == "kill" and ev["image"] != self.target_image and slot not in stops:
                stops[slot] = ev["t"]
            elif ev["action"] == "create" and ev["image"] == self.target_image:
                creates.setdefault(slot, ev["t"])
            elif ev["action"] == "start" and ev["image"] == self.target_image:
                begin = min(stops.get(slot, ev["t"]), creates.get(slot, ev["t"]))
                out.append({"slot": slot, "begin": begin, "stop": stops.get(slot, ev["t"]), "start": ev["t"]})
        return sorted(out, key=lambda r: r["start"])

    def max_concurrent(self) -> int:
        """The most slots being replaced at the same moment (from the engine beginning a slot to its new task starting)."""
        reps = self.replacements()
        edges = sorted([(r["begin"], 1) for r in reps] + [(r["start"], -1) for r in reps])
        now = peak = 0
        for _, step in edges:
            now += step
            peak = max(peak, now)
        return peak

    def gaps(self) -> list[float]:
        """Seconds between one batch's new task starting and the engine beginning the next batch."""
        reps = self.replacements()
        # Slots begun before the previous one started belong to the same batch (parallelism > 1).
        return [round(b["begin"] - a["start"], 1) for a, b in zip(reps, reps[1:], strict=False) if b["begin"] >= a["start"]]

    @property
    def delay(self) -> float:
        return float(self.configured.get("Delay", 0)) / NS

    def floor_seconds(self, stop_seconds: float) -> float:
        """The configured minimum: per task, the delay plus the stop grace it must wait for."""
        return self.replicas * (self.delay + stop_seconds)

    def engine_seconds(self) -> float:
        """How long the engine itself took, from its own UpdateStatus StartedAt to CompletedAt."""
        begin, end = rfc3339(self.status.get("StartedAt")), rfc3339(self.status.get("CompletedAt"))
        return end - begin if begin and end else self.seconds


def _follow(svc: Service, timeout: float) -> dict[str, Any]:
    def look() -> dict[str, Any]:
        svc.reload()
        return dict(svc.attrs.get("UpdateStatus") or {})

    status, _ = poll(look, lambda s: s.get("State") in DONE_STATES, timeout=timeout, interval=0.25)
    return status


def _finish(engine: Engine, svc: Service, timeline: Timeline, events: EventLog, roll: Rollout, timeout: float) -> Rollout:
    roll.status = _follow(svc, timeout)
    roll.state, roll.message = str(roll.status.get("State", "none")), str(roll.status.get("Message", ""))
    roll.ended = engine.now()
    roll.events = events.between(roll.started, roll.ended)
    roll.events_error, roll.traffic_errors = events.error, list(timeline.errors)
    roll.samples = timeline.window(roll.started, roll.ended)
    roll.tasks_after = running(svc)
    roll.after = timeline.wait_for(20, roll.ended, 10.0)[:20]
    return roll


def update_image(engine: Engine, svc: Service, image: str, timeline: Timeline, events: EventLog, progress: Progress = print) -> Rollout:
    """``docker service update --image``, without blocking: follow the engine until it says completed."""
    spec = spec_summary(svc)
    roll = Rollout("update", image, engine.now(), replicas=len(running(svc)), configured=spec["update_config"],
                   stop_grace_s=spec["stop_grace_s"])
    budget = 2 * roll.floor_seconds(spec["stop_grace_s"]) + 60
    progress(f"orchlab: docker service update --image {image} {svc.name} (floor {roll.floor_seconds(spec['stop_grace_s']):.0f} s) ...")
    update_spec(engine, svc, lambda spec: spec["TaskTemplate"]["ContainerSpec"].update(Image=image))
    return _finish(engine, svc, timeline, events, roll, budget)


def rollback(engine: Engine, svc: Service, timeline: Timeline, events: EventLog, progress: Progress = print) -> Rollout:
    """``docker service rollback``: the engine puts the previous spec back (server-side rollback)."""
    svc.reload()
    previous = svc.attrs.get("PreviousSpec", {}).get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", "").split("@")[0]
    spec = spec_summary(svc)
    roll = Rollout("rollback", previous, engine.now(), replicas=len(running(svc)), configured=spec["rollback_config"],
                   stop_grace_s=spec["stop_grace_s"])
    progress(f"orchlab: docker service rollback {svc.name} → {previous} ...")
    update_spec(engine, svc, rollback=True)  # docker-py has no rollback call; this is the CLI's request
    return _finish(engine, svc, timeline, events, roll, 2 * roll.floor_seconds(spec["stop_grace_s"]) + 60)
