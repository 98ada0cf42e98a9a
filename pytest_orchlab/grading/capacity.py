"""How many students one machine grades at once (``orchlab grade --jobs auto``) without changing a verdict.

Phase 1's sweeps take the machine one at a time anyway (the schedule runs them first); what runs side by side is
Phase 2. Its cost, measured here (2026-12-03, 2 cores, Docker 20.10, the in-network probe at 50 req/s) as the
machine's own busy time over the whole of ``pytest -m phase2`` (``/proc/stat``: user, system and softirq, so the
kernel's networking and every short-lived process count; the hypervisor's steal does not): the course's files
96.5 CPU-s in 252 s, **38 % of a core**; the healthcheck variant 222.7 CPU-s in 275 s, **81 %** (its five tasks'
checks every second add 43 %). Counted per process, the course's files read 27 %: that misses the kernel and the
processes that live less than the count's one-second sample. The machine's share Phase 2 runs may use side by side is the most
measured with every verdict identical to one by one: three labs of the class of six, one of them the healthcheck
variant (81 + 2 × 38 = 157 % of a core), 96 of 96 cells (``docs/measurements.md``); so 80 % of the cores. Each run
is given 1.5 GiB of memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

STEADY_COST_PCT = 38.0  # % of one core per student's Phase 2, its whole length (measured, see above)
HEALTHCHECK_COST_PCT = 43.0  # % of one core a stack's healthcheck adds, five tasks checked every second (measured, see above)
MACHINE_SHARE = 0.80
RUN_MEMORY = 3 << 29  # 1.5 GiB


def phase2_cost(healthcheck: bool, built: bool = True) -> float:
    """What one student's Phase 2 adds to the machine, in % of one core: nothing when their image did not build (every
    Phase 2 checkpoint is then blocked and the session ends at once)."""
    if not built:
        return 0.0
    return STEADY_COST_PCT + (HEALTHCHECK_COST_PCT if healthcheck else 0.0)


def cpu_budget(cores: int | None = None) -> float:
    """The share of the machine Phase 2 runs side by side may use, in % of one core."""
    return (cores or os.cpu_count() or 1) * 100 * MACHINE_SHARE


def side_by_side_order(positions: Iterable[int], costs: Mapping[int, float]) -> list[int]:
    """The order to offer students a start: those that cost nothing first (they end at once), then the costliest (a
    lab with a healthcheck is also the longest: started early, it does not end the class alone), each kind in roster
    order."""
    return sorted(positions, key=lambda n: (costs[n] > 0, -costs[n]))


def next_to_start(pending: Sequence[int], costs: Mapping[int, float], running: Sequence[float], limit: float, slots: int) -> int | None:
    """The first of ``pending`` whose cost fits beside the costs ``running`` within ``limit`` (anything fits when nothing
    runs), or None when no slot is free or nothing fits: then wait for one to end. A costly lab that does not fit yet
    is passed by cheaper ones, but it is offered first at every start, so it goes as soon as there is room."""
    if len(running) >= slots:
        return None
    used = sum(running)
    return next((n for n in pending if not running or used + costs[n] <= limit), None)


def memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def auto_jobs(students: int, cores: int | None = None, memory: int | None = None) -> int:
    """Students at once for this machine: by its cores and the measured cost of one student's steady traffic, and
    by its memory; never more than the class."""
    cores = cores or os.cpu_count() or 1
    by_cpu = int(cores * 100 * MACHINE_SHARE // STEADY_COST_PCT)
    by_memory = int((memory or memory_bytes()) // RUN_MEMORY)
    return max(1, min(students, by_cpu, by_memory))


def jobs_choice(value: str) -> str:
    """``--jobs``: a number of students at once, or ``auto``."""
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        import argparse

        raise argparse.ArgumentTypeError(f"--jobs takes a number of students at once or auto, not {value!r}")
    return value
