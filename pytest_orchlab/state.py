"""One lab session's state (``config.stash[STATE]``) and the checkpoint a test declares; glue for pytest."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_orchlab.results.checklist import BY_ID
from pytest_orchlab.results.outcome import Placed
from pytest_orchlab.results.report import Report
from pytest_orchlab.results.verdict import Verdict
from pytest_orchlab.settings import Settings


@dataclass(frozen=True)
class Checkpoint:
    """What ``@pytest.mark.checkpoint(id, *, points=1, requires=(), phase=None, title=None)`` declares."""

    id: str
    points: int
    requires: tuple[str, ...]
    phase: int
    title: str | None


@dataclass
class LabState:
    """Everything one pytest-orchlab session knows, kept in ``config.stash``."""

    settings: Settings
    report: Report
    run_id: str
    engine: Any = None  # the host pytest_orchlab.docker.engine.Engine once a checkpoint connected: swept at the end
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    blocked_by: dict[str, tuple[str, str]] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    phase_spans: dict[int, list[float]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    progress: Callable[[str], None] = print
    written: list[str] = field(default_factory=list)
    background: list[Any] = field(default_factory=list)  # running load with pause() and resume(): steady probes
    multinode_deselected: int = 0  # phase2x checkpoints left out: the run has no --swarm-nodes
    busy_turn: Any = None  # the shared `background` TurnLock, held from Phase 2 on when the lab's stack runs a healthcheck
    busy_checked: bool = False
    lab: Any = None  # the gate's snapshot of the student's folder (a LabFolder), taken once on first use
    run_lock: Any = None  # the RunLock held from session start to finish: this run is alive while it is held

    def lab_folder(self) -> Any:
        """The student's lab folder, read once through the intake gate into the run's own folder."""
        if self.lab is None:
            from pytest_orchlab.submission.intake import snapshot

            self.lab, self.report.submission = snapshot(self.settings.lab_dir, self.run_id)
        return self.lab

    def close_timings(self) -> None:
        """Each phase's wall time and, from the engine's events, what the engine itself needed of it (configured
        delays, grace periods, task starts); the session's time, with a continued session's first part."""
        report = self.report
        for phase, (begin, end) in sorted(self.phase_spans.items()):
            report.timings[f"phase{phase}"] = end - begin
            floor = sum(float(r.evidence.get("engine_s") or 0) for r in report.results.values() if r.phase == phase)
            if floor:
                report.timings[f"phase{phase}_engine_floor"] = floor
        report.timings["session"] = time.monotonic() - self.started + float(report.carried.get("timings", {}).get("session", 0))
        report.finished = time.time()

    @contextlib.contextmanager
    def background_paused(self) -> Iterator[None]:
        """Pause every background load of this run for the block (another run measures CPU meanwhile)."""
        paused = list(self.background)
        for load in paused:
            load.pause()
        try:
            yield
        finally:
            for load in paused:
                load.resume()


STATE = pytest.StashKey[LabState]()


def checkpoint_of(item: pytest.Item) -> Checkpoint | None:
    """The item's checkpoint declaration, validated (a bad one is a usage error naming the test)."""
    mark = item.get_closest_marker("checkpoint")
    if mark is None:
        return None
    if not mark.args or not isinstance(mark.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.checkpoint needs an id string first")
    cid = mark.args[0]
    unknown = set(mark.kwargs) - {"points", "requires", "phase", "title"}
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.checkpoint({cid!r}) has unknown arguments {sorted(unknown)}")
    phase = next((n for n in (1, 2, 3) if item.get_closest_marker(f"phase{n}")), None)
    phase = phase or mark.kwargs.get("phase") or (BY_ID[cid].phase if cid in BY_ID else 0)
    doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines() if hasattr(item, "obj") else []
    return Checkpoint(cid, int(mark.kwargs.get("points", 1)), tuple(mark.kwargs.get("requires", ())), int(phase),
                      mark.kwargs.get("title") or (doc[0] if doc else None))


def placed(item: pytest.Item) -> Placed:
    """What the lab's order needs of a checkpoint's test."""
    cp = checkpoint_of(item)
    assert cp is not None
    _, line, _ = item.reportinfo()
    return Placed(cp.id, cp.phase, str(item.path), line or 0, cp.requires)
