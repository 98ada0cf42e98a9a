"""How many labs run side by side: `--jobs auto`'s cap, and the CPU budget that lets a costly lab start only when it fits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pytest_orchlab.grading.capacity import HEALTHCHECK_COST_PCT, STEADY_COST_PCT, auto_jobs, cpu_budget, next_to_start, phase2_cost, side_by_side_order
from pytest_orchlab.grading.roster import Student
from pytest_orchlab.grading.runner import ClassRun, Outcome


def test_jobs_auto_follows_cores_memory_and_the_class() -> None:
    assert auto_jobs(30, cores=2, memory=24 << 30) == 4  # 2 cores at 80 %, 38 % of a core per student's Phase 2
    assert auto_jobs(3, cores=2, memory=24 << 30) == 3 and auto_jobs(30, cores=8, memory=4 << 30) == 2 and auto_jobs(5, 1, 1) == 1


def test_a_lab_that_runs_a_healthcheck_costs_more_and_the_budget_is_a_share_of_the_cores() -> None:
    assert phase2_cost(False) == STEADY_COST_PCT and phase2_cost(True) == STEADY_COST_PCT + HEALTHCHECK_COST_PCT
    assert cpu_budget(2) == pytest.approx(160.0)
    # On these 2 cores: four plain labs fit, or one with a healthcheck beside two plain ones (measured: 96 of 96
    # verdicts identical), not two with a healthcheck beside a plain one.
    assert 4 * phase2_cost(False) <= cpu_budget(2) and phase2_cost(True) + 2 * phase2_cost(False) <= cpu_budget(2)
    assert 2 * phase2_cost(True) + phase2_cost(False) > cpu_budget(2)


def test_a_lab_starts_when_a_slot_is_free_and_its_cost_fits_beside_what_runs() -> None:
    costs = {0: 81.0, 1: 81.0, 2: 38.0, 3: 38.0, 4: 0.0}
    assert next_to_start([0, 1, 2], costs, [], 160.0, 4) == 0
    assert next_to_start([1, 2, 3], costs, [81.0], 160.0, 4) == 2  # a second healthcheck lab does not fit: a plain one passes it
    assert next_to_start([1, 3], costs, [81.0, 38.0, 38.0], 160.0, 4) is None  # nothing fits: wait for one to end
    assert next_to_start([4], costs, [81.0, 38.0, 38.0], 160.0, 3) is None  # no slot free
    assert next_to_start([4], costs, [81.0, 38.0, 38.0], 160.0, 4) == 4  # costs nothing: always fits
    assert next_to_start([0], {0: 500.0}, [], 160.0, 4) == 0  # one always runs, even over the budget alone


def test_the_side_by_side_order_offers_what_costs_nothing_first_then_the_costliest() -> None:
    costs = {0: 38.0, 1: 81.0, 2: 0.0, 3: 38.0, 4: 81.0, 5: 0.0}
    assert side_by_side_order(range(6), costs) == [2, 5, 1, 4, 0, 3]
    assert phase2_cost(True, built=False) == 0.0


def test_the_class_runs_side_by_side_within_the_budget_and_every_student_is_graded(tmp_path: Path) -> None:
    """The dispatcher of ``orchlab grade --jobs auto``'s second stage, with stand-in labs that only take time."""
    students = [Student(f"s{n}", tmp_path) for n in range(6)]
    run = ClassRun(students, tmp_path, ["pytest"], jobs=4, budget=160.0, progress=lambda _: None)
    costs = {0: 38.0, 1: 81.0, 2: 38.0, 3: 81.0, 4: 38.0, 5: 0.0}
    lock, now, peak = threading.Lock(), [0.0], [0.0]

    def work(n: int, student: Student) -> Outcome:
        with lock:
            now[0] += costs[n]
            peak[0] = max(peak[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= costs[n]
        return Outcome(student, "graded")

    outcomes = run._side_by_side(work, costs, 160.0)
    assert [o.student.id for o in outcomes if o] == [s.id for s in students]
    assert peak[0] <= 160.0 and set(run.schedule) == {s.id for s in students}
    assert run.schedule["s1"]["phase2_waited_s"] < 0.05 <= run.schedule["s3"]["phase2_waited_s"]  # the two costly ones one after the other
