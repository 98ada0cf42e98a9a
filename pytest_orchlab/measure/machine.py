"""How busy this machine is with work that is not the experiment's: ``/proc/stat`` against our own process's CPU.

Two cores are shared by everything (the app, the load generator, the engine, other runs, whatever else the
machine does). A CPU verdict measured beside someone else's work reads low; it must wait for a quiet machine, and
say so when the machine was not quiet while it measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STAT = Path("/proc/stat")
QUIET_PCT = 25.0  # % of one core: what else may run before a sweep starts (an idle engine takes a few %)


def busy_seconds(stat: str | None = None) -> float | None:
    """CPU seconds the machine has spent busy (user, nice, system, irq, softirq, steal), or None off Linux."""
    try:
        first = (stat if stat is not None else STAT.read_text()).splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1:]]
    busy = sum(values[i] for i in (0, 1, 2, 5, 6, 7) if i < len(values))
    return busy / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds of this process, every thread (the load generator's too)."""
    t = os.times()
    return t.user + t.system


@dataclass
class Window:
    """The machine's CPU over an interval: busy, ours, and what an app container took (all in CPU seconds)."""

    began: float
    busy: float
    ours: float

    @classmethod
    def start(cls) -> Window | None:
        busy = busy_seconds()
        return None if busy is None else cls(time.monotonic(), busy, own_seconds())

    def others_pct(self, app_s: float = 0.0) -> float:
        """% of one core the rest of the machine used since :meth:`start`: neither us nor the app (``app_s``)."""
        now = busy_seconds() or self.busy
        wall = max(time.monotonic() - self.began, 1e-6)
        return max(0.0, (now - self.busy) - (own_seconds() - self.ours) - app_s) / wall * 100.0


def wait_for_quiet(progress: Callable[[str], None], limit_pct: float = QUIET_PCT, max_wait_s: float = 300.0,
                   sample_s: float = 1.0) -> tuple[float, float | None]:
    """Wait until the rest of the machine uses less than ``limit_pct`` of a core over ``sample_s``; (seconds waited,
    the last reading, None off Linux). Gives up after ``max_wait_s`` (the reading then says how busy it stayed)."""
    began, told, reading = time.monotonic(), False, None
    while True:
        window = Window.start()
        if window is None:
            return 0.0, None
        time.sleep(sample_s)
        reading = window.others_pct()
        waited = time.monotonic() - began - sample_s
        if reading < limit_pct or waited >= max_wait_s:
            return max(waited, 0.0), reading
        if not told:
            progress(f"orchlab: waiting for a quiet machine: other work uses {reading:.0f} % of a core (a CPU sweep needs it alone) ...")
            told = True
