"""How busy the machine is, from /proc/stat."""

from __future__ import annotations

import os

from pytest_orchlab.measure.machine import busy_seconds


def test_busy_seconds_count_user_system_irq_softirq_and_steal_not_idle() -> None:
    tick = os.sysconf("SC_CLK_TCK")
    assert busy_seconds("cpu  100 10 50 9000 30 5 5 2 0 0\ncpu0 1 1 1 1\n") == (100 + 10 + 50 + 5 + 5 + 2) / tick
    assert busy_seconds("intr 1 2 3\n") is None
