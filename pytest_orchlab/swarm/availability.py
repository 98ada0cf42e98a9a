"""Swarm on several nodes (``--swarm-nodes``), as the theory pages describe it: tasks spread over nodes,
``docker node update --availability drain``, a placement constraint, and a worker that is lost.

Each experiment changes the swarm, measures under the stack's steady traffic, and returns what it saw;
judging is in :mod:`pytest_orchlab.swarm.verdicts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docker.models.services import Service

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.docker.engine import Engine, Peer
from pytest_orchlab.measure.timeline import Timeline, summarize
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.measure.waiting import poll
from pytest_orchlab.swarm.service import EventLog, running, update_spec

AFTER_S = 2.0  # traffic judged this long after the swarm settled


def nodes(engine: Engine) -> list[dict[str, Any]]:
    """``docker node ls``: id, hostname, role, availability, state."""
    return [{"id": n.id, "hostname": n.attrs["Description"]["Hostname"], "role": n.attrs["Spec"]["Role"],
             "availability": n.attrs["Spec"]["Availability"], "state": n.attrs["Status"]["State"]}
            for n in engine.client.nodes.list()]


def tasks_per_node(engine: Engine, svc: Service, listing: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Running tasks by node hostname (``docker service ps`` grouped by NODE); nodes with none show 0.

    ``listing`` is a :func:`nodes` answer the caller already has.
    """
    names = {n["id"]: n["hostname"] for n in (nodes(engine) if listing is None else listing)}
    svc.reload()
    count = Counter(names.get(r["node"], r["node"][:12]) for r in running(svc))
    return {name: count.get(name, 0) for name in sorted(names.values())} | dict(count)


@dataclass
class Spread:
    """Where the deployed tasks run."""

    nodes: list[dict[str, Any]]
    per_node: dict[str, int]


def spread(engine: Engine, svc: Service) -> Spread:
    return Spread(nodes(engine), tasks_per_node(engine, svc))


@dataclass
class Move:
    """One change that makes Swarm move tasks (a drain, a constraint, a lost node) and what followed."""

    what: str
    node: str
    desired: int
    before: dict[str, int]
    started: float
    settled_at: float | None = None
    after: dict[str, int] = field(default_factory=dict)
    node_down_at: float | None = None
    samples: list[Reply] = field(default_factory=list)
    traffic_errors: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    nodes_after: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        return None if self.settled_at is None else self.settled_at - self.started

    def evidence(self) -> dict[str, Any]:
        traffic = summarize(self.samples)
        return {"failed_requests": traffic["failed"], "what": self.what, "node": self.node, "desired": self.desired, "before": self.before, "after": self.after,
                "seconds": None if self.seconds is None else round(self.seconds, 2),
                "node_down_s": None if self.node_down_at is None else round(self.node_down_at - self.started, 2),
                "traffic": traffic, "nodes_after": self.nodes_after, "events": self.events[-20:]}


def _follow(engine: Engine, svc: Service, move: Move, timeline: Timeline, events: EventLog,
            settled: Callable[[dict[str, int], list[dict[str, Any]]], bool], timeout: float) -> Move:
    """Poll every 0.25 s until ``desired`` tasks run and ``settled(per_node, nodes)``; then the traffic of that window."""
    listing: list[dict[str, Any]] = []

    def look() -> dict[str, int]:
        listing[:] = nodes(engine)  # one node listing per look, shared with ``settled``
        return tasks_per_node(engine, svc, listing)

    def done(per_node: dict[str, int]) -> bool:
        moved = settled(per_node, listing)  # first: it may also note what it watches on each look
        return moved and sum(per_node.values()) == move.desired

    move.after, _ = poll(look, done, timeout=timeout, interval=0.25)
    if done(move.after):
        move.settled_at = engine.now()
    end = (move.settled_at or engine.now()) + AFTER_S
    timeline.wait_for(1, end, 5.0)
    move.samples = timeline.window(move.started, end)
    move.traffic_errors = list(timeline.errors)
    move.events = events.between(move.started - 1, end)
    move.nodes_after = nodes(engine)
    return move


def _node_id(engine: Engine, hostname: str) -> str:
    return str(next(n["id"] for n in nodes(engine) if n["hostname"] == hostname))


def set_availability(engine: Engine, hostname: str, availability: str) -> None:
    """``docker node update --availability <availability> <node>``."""
    node = engine.client.nodes.get(_node_id(engine, hostname))
    spec = dict(node.attrs["Spec"], Availability=availability)
    node.update(spec)


def drain(engine: Engine, svc: Service, hostname: str, timeline: Timeline, events: EventLog, timeout: float = 60.0,
          progress: Progress = print) -> Move:
    """``docker node update --availability drain <worker>``, followed until its tasks run elsewhere; made active again."""
    before = tasks_per_node(engine, svc)
    progress(f"orchlab: docker node update --availability drain {hostname} ({before.get(hostname, 0)} task(s) there) ...")
    move = Move("drain", hostname, sum(before.values()), before, engine.now())
    set_availability(engine, hostname, "drain")
    try:
        return _follow(engine, svc, move, timeline, events, lambda per, _: per.get(hostname, 0) == 0, timeout)
    finally:
        set_availability(engine, hostname, "active")


def constrain(engine: Engine, svc: Service, constraint: str, keep_off: str, timeline: Timeline, events: EventLog,
              timeout: float = 120.0, progress: Progress = print) -> Move:
    """``docker service update --constraint-add <constraint>``, followed until no task runs on ``keep_off``."""
    before = tasks_per_node(engine, svc)
    progress(f"orchlab: docker service update --constraint-add '{constraint}' {svc.name} ...")
    move = Move(f"constraint {constraint}", keep_off, sum(before.values()), before, engine.now())

    def add(spec: dict[str, Any]) -> None:
        placement = spec["TaskTemplate"].setdefault("Placement", {})
        placement["Constraints"] = [*placement.get("Constraints", []), constraint]

    update_spec(engine, svc, add)
    return _follow(engine, svc, move, timeline, events, lambda per, _: per.get(keep_off, 0) == 0, timeout)


def lose_node(engine: Engine, svc: Service, peer: Peer, stop: Callable[[Peer], None], timeline: Timeline, events: EventLog,
              timeout: float = 90.0, progress: Progress = print) -> Move:
    """A worker fails (``stop`` kills its engine, as a power cut would); followed until its tasks run on the others."""
    before = tasks_per_node(engine, svc)
    progress(f"orchlab: stopping node {peer.name} ({before.get(peer.name, 0)} task(s) there); waiting for Swarm to reschedule ...")
    events.lose(peer.client)
    move = Move("node lost", peer.name, sum(before.values()), before, engine.now())
    stop(peer)
    engine.peers.remove(peer)

    def settled(per_node: dict[str, int], listing: list[dict[str, Any]]) -> bool:
        if move.node_down_at is None and any(n["hostname"] == peer.name and n["state"] == "down" for n in listing):
            move.node_down_at = engine.now()
        return per_node.get(peer.name, 0) == 0

    return _follow(engine, svc, move, timeline, events, settled, timeout)
