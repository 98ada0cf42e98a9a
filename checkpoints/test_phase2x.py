"""Phase 2 on several nodes (``--swarm-nodes 3``): the Swarm theory pages' drain, placement and node failure,
on the student's stack, under steady traffic."""

from __future__ import annotations

import pytest

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.engine import Engine, Peer
from pytest_orchlab.fixtures import Grade
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.swarm import verdicts
from pytest_orchlab.swarm.availability import constrain, drain, lose_node, spread, tasks_per_node
from pytest_orchlab.swarm.nodes import SwarmNodes
from pytest_orchlab.swarm.service import EventLog
from pytest_orchlab.swarm.stack import Stack
from pytest_orchlab.swarm.verdicts import Deployment

pytestmark = pytest.mark.phase2x
WORKERS_ONLY = "node.role==worker"


def busiest_worker(engine: Engine, stack: Stack) -> Peer:
    """The worker running most of the stack's tasks: the one whose loss moves most."""
    per_node = tasks_per_node(engine, stack.service)
    return max(engine.peers, key=lambda peer: per_node.get(peer.name, 0))


@pytest.mark.checkpoint("p2x-spread", points=1, requires=["p2-stack-deployed"])
def test_spread(orchlab_nodes: SwarmNodes, orchlab_docker_engine: Engine, orchlab_deployment: Deployment, orchlab_webapp_stack: Stack,
                orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.spread_over_nodes(spread(orchlab_docker_engine, orchlab_webapp_stack.service)))


@pytest.mark.checkpoint("p2x-drain", points=2, requires=["p2-stack-deployed"])
def test_drain(orchlab_nodes: SwarmNodes, orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline,
               orchlab_service_events: EventLog, orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    worker = busiest_worker(orchlab_docker_engine, orchlab_webapp_stack)
    moved = drain(orchlab_docker_engine, orchlab_webapp_stack.service, worker.name, orchlab_steady_traffic, orchlab_service_events,
                  progress=orchlab_progress)
    orchlab_grade(verdicts.drained(moved))


@pytest.mark.checkpoint("p2x-placement", points=1, requires=["p2-stack-deployed"])
def test_placement(orchlab_nodes: SwarmNodes, orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline,
                   orchlab_service_events: EventLog, orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    manager = orchlab_nodes.inner[0].container
    moved = constrain(orchlab_docker_engine, orchlab_webapp_stack.service, WORKERS_ONLY, manager, orchlab_steady_traffic,
                      orchlab_service_events, progress=orchlab_progress)
    orchlab_grade(verdicts.kept_off(moved))


@pytest.mark.checkpoint("p2x-node-loss", points=2, requires=["p2-stack-deployed"])
def test_node_loss(orchlab_nodes: SwarmNodes, orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline,
                   orchlab_service_events: EventLog, orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    worker = busiest_worker(orchlab_docker_engine, orchlab_webapp_stack)
    moved = lose_node(orchlab_docker_engine, orchlab_webapp_stack.service, worker, orchlab_nodes.stop, orchlab_steady_traffic,
                      orchlab_service_events, progress=orchlab_progress)
    orchlab_grade(verdicts.node_lost(moved))
