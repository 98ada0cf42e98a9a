"""Phase 2: Docker Swarm 기초 실습 — one test per item of the lab's checklist, on a live swarm."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_orchlab import swarm_grading as judge
from pytest_orchlab.engine import Engine
from pytest_orchlab.fixtures import Grade
from pytest_orchlab.rollout import Rollout, rollback
from pytest_orchlab.scaling import ScaleOut, balance
from pytest_orchlab.selfheal import kill_one_task
from pytest_orchlab.service import EventLog, teacher_evidence
from pytest_orchlab.stack import Stack
from pytest_orchlab.swarm import Swarm
from pytest_orchlab.swarm_grading import Deployment
from pytest_orchlab.timeline import Timeline, summarize

pytestmark = pytest.mark.phase2
Progress = Callable[[str], None]


def evidence(stack: Stack, timeline: Timeline | None = None) -> Callable[[], dict[str, object]]:
    """Task history, live spec, service logs and the traffic timeline, for a failed checkpoint."""
    def collect() -> dict[str, object]:
        found: dict[str, object] = dict(teacher_evidence(stack.service))
        if timeline is not None:
            found["traffic"] = {"path": timeline.path, **summarize(timeline.samples)}
        return found
    return collect


@pytest.mark.checkpoint("p2-swarm-active", points=1)
def test_swarm_active(lab_swarm: Swarm, grade: Grade) -> None:
    grade(judge.swarm_active(lab_swarm.view()))


@pytest.mark.checkpoint("p2-stack-deployed", points=2, requires=["p1-image-builds", "p2-swarm-active"])
def test_stack_deployed(deployment: Deployment, webapp_stack: Stack, grade: Grade) -> None:
    grade(judge.stack_deployed(deployment), attach=evidence(webapp_stack))


@pytest.mark.checkpoint("p2-policies-applied", points=1, requires=["p2-stack-deployed"])
def test_policies_applied(deployment: Deployment, webapp_stack: Stack, grade: Grade) -> None:
    grade(judge.policies_applied(deployment.spec), attach=evidence(webapp_stack))


@pytest.mark.checkpoint("p2-scale-out", points=1, requires=["p2-stack-deployed"])
def test_scale_out(scaled_out: ScaleOut, webapp_stack: Stack, grade: Grade) -> None:
    grade(judge.scale_out(scaled_out), attach=evidence(webapp_stack))


@pytest.mark.checkpoint("p2-load-balanced", points=2, requires=["p2-scale-out"])
def test_load_balanced(scaled_out: ScaleOut, webapp_stack: Stack, steady_traffic: Timeline, grade: Grade) -> None:
    grade(judge.load_balanced(balance(webapp_stack.service, steady_traffic)), attach=evidence(webapp_stack, steady_traffic))


@pytest.mark.checkpoint("p2-self-healing", points=2, requires=["p2-stack-deployed"])
def test_self_healing(docker_engine: Engine, webapp_stack: Stack, steady_traffic: Timeline, service_events: EventLog,
                      orchlab_progress: Progress, grade: Grade) -> None:
    healing = kill_one_task(docker_engine, webapp_stack.service, steady_traffic, service_events, progress=orchlab_progress)
    grade(judge.self_healing(healing), attach=evidence(webapp_stack, steady_traffic))


@pytest.mark.checkpoint("p2-rolling-update", points=3, requires=["p2-stack-deployed"])
def test_rolling_update(rolling_update: Rollout, deployment: Deployment, webapp_stack: Stack, steady_traffic: Timeline,
                        grade: Grade) -> None:
    parallelism = int(deployment.spec["update_config"].get("Parallelism", 1))
    grade(judge.rolling_update(rolling_update, parallelism), attach=evidence(webapp_stack, steady_traffic))


@pytest.mark.checkpoint("p2-rollback", points=2, requires=["p2-stack-deployed"])
def test_rollback(rolling_update: Rollout, docker_engine: Engine, webapp_stack: Stack, steady_traffic: Timeline,
                  service_events: EventLog, orchlab_progress: Progress, grade: Grade) -> None:
    back = rollback(docker_engine, webapp_stack.service, steady_traffic, service_events, orchlab_progress)
    grade(judge.rolled_back(back), attach=evidence(webapp_stack, steady_traffic))
