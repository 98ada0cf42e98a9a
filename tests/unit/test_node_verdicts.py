"""Multi-node verdicts (``--swarm-nodes``, phase2x): spread, drain, placement and node loss, from measured values."""

from __future__ import annotations

from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.swarm import verdicts as judge
from pytest_orchlab.swarm.availability import Move, Spread


def node(name: str, role: str = "worker", availability: str = "active", state: str = "ready") -> dict[str, str]:
    return {"id": name, "hostname": name, "role": role, "availability": availability, "state": state}


NODES = [node("m", "manager"), node("w1"), node("w2")]


def move(before: dict[str, int], after: dict[str, int], *, settled: float | None = 8.0, failed: int = 0, down: float | None = None) -> Move:
    m = Move("drain", "w1", sum(before.values()), before, 100.0, None if settled is None else 100.0 + settled, after,
             None if down is None else 100.0 + down)
    m.samples = [Reply(100.0 + i / 50, 0.01, status=200) for i in range(500)] + [Reply(101.0, 2.0, error="timeout")] * failed
    return m


def test_three_tasks_one_per_node_is_spread() -> None:
    v = judge.spread_over_nodes(Spread(NODES, {"m": 1, "w1": 1, "w2": 1}))
    assert v.passed and v.evidence["spread"] == "1/1/1"


def test_every_task_on_the_manager_is_not_spread_and_names_the_placement() -> None:
    v = judge.spread_over_nodes(Spread(NODES, {"m": 3, "w1": 0, "w2": 0}))
    assert not v.passed and v.gradable and v.evidence["spread"] == "3/0/0"
    assert v.hint is not None and "deploy.placement" in v.hint.en


def test_a_drain_without_failed_requests_passes_and_one_failure_fails() -> None:
    assert judge.drained(move({"m": 1, "w1": 1, "w2": 1}, {"m": 2, "w1": 0, "w2": 1})).passed
    v = judge.drained(move({"m": 1, "w1": 1, "w2": 1}, {"m": 2, "w1": 0, "w2": 1}, failed=1))
    assert not v.passed and v.gradable and "1 of 501 requests failed" in v.seen.en


def test_a_drain_of_an_empty_node_or_without_traffic_is_not_gradable() -> None:
    assert not judge.drained(move({"m": 3, "w1": 0, "w2": 0}, {"m": 3, "w1": 0, "w2": 0})).gradable
    m = move({"m": 1, "w1": 1, "w2": 1}, {"m": 2, "w1": 0, "w2": 1})
    m.samples = []
    assert not judge.drained(m).gradable


def test_a_drain_whose_tasks_stay_fails() -> None:
    v = judge.drained(move({"m": 1, "w1": 1, "w2": 1}, {"m": 1, "w1": 1, "w2": 1}, settled=None))
    assert not v.passed and v.gradable


def test_placement_passes_when_the_manager_is_empty() -> None:
    m = move({"m": 2, "w1": 0, "w2": 1}, {"m": 0, "w1": 2, "w2": 1})
    m.what, m.node = "constraint node.role==worker", "m"
    assert judge.kept_off(m).passed
    m.settled_at = None
    assert not judge.kept_off(m).passed


def test_node_loss_within_the_bound_passes_with_the_failed_requests_as_a_figure() -> None:
    v = judge.node_lost(move({"m": 0, "w1": 2, "w2": 1}, {"m": 0, "w2": 3}, settled=21.0, down=14.0, failed=30))
    assert v.passed and "Down after 14.0 s" in v.seen.en and "30 of 530 requests failed" in v.seen.en
    assert v.evidence["node_down_s"] == 14.0 and v.evidence["failed_requests"] == 30


def test_node_loss_beyond_the_bound_fails() -> None:
    v = judge.node_lost(move({"m": 0, "w1": 2, "w2": 1}, {"m": 0, "w2": 1}, settled=None, down=14.0))
    assert not v.passed and v.gradable and "not rescheduled" in v.seen.en


def test_drain_failures_right_after_the_new_task_started_blame_the_missing_healthcheck() -> None:
    m = move({"m": 1, "w1": 1, "w2": 1}, {"m": 2, "w1": 0, "w2": 1}, failed=2)
    m.events = [{"t": 100.5, "action": "start", "task": "webapp_web.2.new", "container": "n", "image": "v1", "signal": None}]
    v = judge.drained(m)
    assert not v.passed and v.evidence["failed_right_after_a_start"] == 2
    assert v.hint is not None and "healthcheck" in v.hint.en
    m.events = []
    assert "SIGTERM" in judge.drained(m).hint.en  # type: ignore[union-attr]
