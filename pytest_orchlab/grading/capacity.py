"""How many students one machine grades at once (``orchlab grade --jobs auto``) without changing a verdict.

Phase 1's sweeps take the machine one at a time anyway (the schedule runs them first); what runs side by side is
Phase 2, whose cost is its steady traffic: measured here (2026-12-03, 2 cores, Docker 20.10) one student's Phase 2
during self-healing, probe at 50 req/s, five tasks and the engine, took 35 % of a core, against 1 % idle. Side by
side they may use at most 70 % of the machine (the rest is headroom for task starts and the engine's own work,
so no probe request waits out its timeout), and each run is given 1.5 GiB of memory.
"""

from __future__ import annotations

import os

STEADY_COST_PCT = 35.0  # % of one core per student's Phase 2 (measured, see above)
MACHINE_SHARE = 0.70
RUN_MEMORY = 3 << 29  # 1.5 GiB


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
