"""A traffic timeline: every request's time, fate and the task that answered, for an experiment's window."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_orchlab.measure.traffic import Reply, percentile
from pytest_orchlab.measure.waiting import poll


@dataclass
class Timeline:
    """All requests so far (``Reply.start`` in wall-clock time, as engine events are); experiments look
    at the window they ran in."""

    path: str = ""
    clock: Callable[[], float] = time.time  # the clock its samples are stamped with (the engine's, in Phase 2)
    samples: list[Reply] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Reply) -> None:
        with self._lock:
            self.samples.append(sample)

    def window(self, start: float, end: float) -> list[Reply]:
        with self._lock:
            return [s for s in self.samples if start <= s.start <= end]

    def broke(self, error: str) -> None:
        """Record that the source of this timeline failed: verdicts on its window are then not gradable."""
        with self._lock:
            self.errors.append(error)

    def wait_for(self, count: int, after: float, timeout: float) -> list[Reply]:
        """Block until ``count`` samples newer than ``after`` have arrived (or ``timeout``)."""
        got, _ = poll(lambda: self.window(after, float("inf")), lambda s: len(s) >= count, timeout, interval=0.1)
        return got


def summarize(samples: list[Reply]) -> dict[str, Any]:
    """Counts a teacher asks for: total, failed by kind, answers by task and by greeting, and how slow the answers were
    (``answer_s``: the slowest beside the probe's timeout tells how far a run was from losing requests to a busy machine)."""
    failed = [s for s in samples if not s.ok]
    took = [s.seconds for s in samples if s.ok]
    return {
        "answer_s": {"median": round(percentile(took, 0.5), 4), "p99": round(percentile(took, 0.99), 4), "slowest": round(max(took), 4)}
        if took else {},
        "requests": len(samples),
        "failed": len(failed),
        "failures": dict(Counter(s.fate for s in failed)),
        "timeouts_waited_on": dict(Counter(s.stalled for s in failed if s.stalled)),
        "by_task": dict(Counter(s.answered_by for s in samples if s.ok and s.answered_by)),
        "by_greeting": dict(Counter(s.greeting for s in samples if s.ok and s.greeting)),
        "first_failures": [{"t": round(s.start, 2), "fate": s.fate} for s in failed[:10]],
    }




def traffic_series(samples: list[Reply], t0: float, t1: float) -> dict[str, Any]:
    """An experiment's traffic as a chart draws it: successes per second from ``t0``, and every failed request with its
    time (seconds from ``t0``) and kind. Each failed request of ``samples`` is one entry."""
    seconds = max(1, int(t1 - t0) + 1)
    ok = [0] * seconds
    failed = []
    for s in samples:
        at = s.start - t0
        if s.ok:
            ok[min(seconds - 1, max(0, int(at)))] += 1
        else:
            failed.append([round(at, 2), s.fate])
    return {"t0": round(t0, 3), "seconds": round(t1 - t0, 2), "ok_per_s": ok, "failed": failed}
