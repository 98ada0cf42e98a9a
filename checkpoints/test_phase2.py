"""Phase 2: Docker Swarm 기초 실습 — one test per item of the lab's checklist, on a live swarm."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.fixtures import Grade
from pytest_orchlab.measure.timeline import Timeline, summarize
from pytest_orchlab.swarm import verdicts
from pytest_orchlab.swarm.cluster import Swarm
from pytest_orchlab.swarm.rollout import Rollout, rollback
from pytest_orchlab.swarm.scaling import ScaleOut, balance
from pytest_orchlab.swarm.selfheal import kill_one_task
from pytest_orchlab.swarm.service import EventLog, teacher_evidence
from pytest_orchlab.swarm.stack import Stack
from pytest_orchlab.swarm.verdicts import Deployment

pytestmark = pytest.mark.phase2


def evidence(stack: Stack, timeline: Timeline | None = None) -> Callable[[], dict[str, object]]:
    """Task history, live spec, service logs and the traffic timeline, for a failed checkpoint."""
    def collect() -> dict[str, object]:
        found: dict[str, object] = dict(teacher_evidence(stack.service))
        if timeline is not None:
            found["traffic"] = {"path": timeline.path, **summarize(timeline.samples)}
        return found
    return collect


@pytest.mark.checkpoint("p2-swarm-active", points=1)
def test_swarm_active(orchlab_lab_swarm: Swarm, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.swarm_active(orchlab_lab_swarm.view()))


@pytest.mark.checkpoint("p2-stack-deployed", points=2, requires=["p1-image-builds", "p2-swarm-active"])
def test_stack_deployed(orchlab_deployment: Deployment, orchlab_webapp_stack: Stack, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.stack_deployed(orchlab_deployment), attach=evidence(orchlab_webapp_stack))


@pytest.mark.checkpoint("p2-policies-applied", points=1, requires=["p2-stack-deployed"])
def test_policies_applied(orchlab_deployment: Deployment, orchlab_webapp_stack: Stack, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.policies_applied(orchlab_deployment.spec), attach=evidence(orchlab_webapp_stack))


@pytest.mark.checkpoint("p2-scale-out", points=1, requires=["p2-stack-deployed"])
def test_scale_out(orchlab_scaled_out: ScaleOut, orchlab_webapp_stack: Stack, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.scale_out(orchlab_scaled_out), attach=evidence(orchlab_webapp_stack))


@pytest.mark.checkpoint("p2-load-balanced", points=2, requires=["p2-scale-out"])
def test_load_balanced(orchlab_scaled_out: ScaleOut, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline, orchlab_grade: Grade) -> None:
    spread = balance(orchlab_webapp_stack.service, orchlab_steady_traffic)
    orchlab_grade(verdicts.load_balanced(spread), attach=evidence(orchlab_webapp_stack, orchlab_steady_traffic))


@pytest.mark.checkpoint("p2-self-healing", points=2, requires=["p2-stack-deployed"])
def test_self_healing(orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline, orchlab_service_events: EventLog,
                      orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    healing = kill_one_task(orchlab_docker_engine, orchlab_webapp_stack.service, orchlab_steady_traffic, orchlab_service_events, progress=orchlab_progress)
    orchlab_grade(verdicts.self_healing(healing), attach=evidence(orchlab_webapp_stack, orchlab_steady_traffic))


@pytest.mark.checkpoint("p2-rolling-update", points=3, requires=["p2-stack-deployed"])
def test_rolling_update(orchlab_rolling_update: Rollout, orchlab_deployment: Deployment, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline,
                        orchlab_grade: Grade) -> None:
    parallelism = int(orchlab_deployment.spec["update_config"].get("Parallelism", 1))
    orchlab_grade(verdicts.rolling_update(orchlab_rolling_update, parallelism), attach=evidence(orchlab_webapp_stack, orchlab_steady_traffic))


@pytest.mark.checkpoint("p2-rollback", points=2, requires=["p2-stack-deployed"])
def test_rollback(orchlab_rolling_update: Rollout, orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline,
                  orchlab_service_events: EventLog, orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    back = rollback(orchlab_docker_engine, orchlab_webapp_stack.service, orchlab_steady_traffic, orchlab_service_events, orchlab_progress)
    orchlab_grade(verdicts.rolled_back(back), attach=evidence(orchlab_webapp_stack, orchlab_steady_traffic))
