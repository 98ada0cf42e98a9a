"""Phase 2 실습 4: swarm mode on this engine (``docker swarm init``), left as it was found."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import docker.errors
import requests.exceptions

from pytest_orchlab.core.errors import NotGradable
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import RUN_LABEL, Engine
from pytest_orchlab.measure.waiting import poll

JOIN_WAIT_S = 60.0


@dataclass(frozen=True)
class SwarmView:
    """What ``docker info | grep Swarm`` and ``docker node ls`` show."""

    state: str
    control_available: bool
    node_id: str
    nodes: list[dict[str, Any]]
    initialized_by_run: bool  # orchlab ran `docker swarm init` (this run, or the run that grades a class)
    initialized_by: str | None = None


class Swarm:
    """Swarm mode for the run: initialised if inactive (and left again at the end), else used as is."""

    def __init__(self, engine: Engine, progress: Progress = print) -> None:
        self.engine, self.progress = engine, progress
        self.initialized = False
        self.made_by: str | None = None  # the orchlab run that ran `docker swarm init`, when it was one
        self._had_gwbridge = True

    def __enter__(self) -> Swarm:
        client = self.engine.client
        state = client.info().get("Swarm", {}).get("LocalNodeState", "inactive")
        if state == "inactive":
            self._had_gwbridge = bool(client.networks.list(names=["docker_gwbridge"]))
            self.progress("orchlab: docker swarm init ...")
            try:
                if self.engine.peers:  # the run's own nodes: the manager advertises where the workers reach it
                    client.swarm.init(advertise_addr=self.engine.published_host, labels=self.engine.labels)
                else:
                    client.swarm.init(labels=self.engine.labels)
            except docker.errors.APIError as exc:
                if "advertise" not in str(exc):
                    raise
                client.swarm.init(advertise_addr="127.0.0.1", labels=self.engine.labels)
            self.initialized = True
            self.made_by = self.engine.run_id
            if self.engine.peers:
                join_workers(self.engine, self.progress)
        elif state != "active":
            raise NotGradable(
                t(f"Swarm 상태가 '{state}' 입니다.", f"Swarm mode is in state '{state}'."),
                t("`docker swarm leave --force` 후 다시 실행하세요.", "run `docker swarm leave --force` and try again."),
            )
        elif not client.info()["Swarm"].get("ControlAvailable"):
            raise NotGradable(
                t("이 노드는 Swarm 워커입니다: 스택은 매니저에서만 배포할 수 있습니다.",
                  "This node is a swarm worker: stacks can only be deployed from a manager."),
                t("매니저 노드에서 실행하세요.", "run on a manager node."),
            )
        else:
            # Another orchlab run's swarm (a teacher's `orchlab grade --jobs`): used, not left, and not the student's work.
            client.swarm.reload()
            self.made_by = (client.swarm.attrs.get("Spec", {}).get("Labels") or {}).get(RUN_LABEL)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.initialized:
            for peer in self.engine.peers:  # a worker stopped by an experiment cannot answer: nothing to leave
                with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    peer.client.swarm.leave(force=True)
            try:
                self.engine.client.swarm.leave(force=True)
                if not self._had_gwbridge:  # swarm init made it; leave the engine as it was found
                    for net in self.engine.client.networks.list(names=["docker_gwbridge"]):
                        net.remove()
            except docker.errors.APIError:
                pass

    def view(self) -> SwarmView:
        client = self.engine.client
        info = client.info()["Swarm"]
        nodes = [
            {"id": n.id[:12], "hostname": n.attrs["Description"]["Hostname"], "role": n.attrs["Spec"]["Role"],
             "availability": n.attrs["Spec"]["Availability"], "state": n.attrs["Status"]["State"],
             "leader": bool(n.attrs.get("ManagerStatus", {}).get("Leader"))}
            for n in client.nodes.list()
        ]
        return SwarmView(info["LocalNodeState"], bool(info.get("ControlAvailable")), info.get("NodeID", ""), nodes,
                         self.made_by is not None, self.made_by)




def join_workers(engine: Engine, progress: Progress = print, timeout: float = JOIN_WAIT_S) -> None:
    """``docker swarm join --token <worker token> <manager>:2377`` on every peer, then wait until all are ready."""
    client = engine.client
    client.swarm.reload()
    token = client.swarm.attrs["JoinTokens"]["Worker"]
    manager = f"{engine.published_host}:2377"
    for peer in engine.peers:
        progress(f"orchlab: docker swarm join on {peer.name} (worker) ...")
        peer.client.swarm.join(remote_addrs=[manager], join_token=token, advertise_addr=peer.host, listen_addr="0.0.0.0:2377")

    def ready() -> int:
        return sum(1 for n in client.nodes.list() if n.attrs["Status"]["State"] == "ready")

    count, waited = poll(ready, lambda n: n == len(engine.peers) + 1, timeout=timeout, interval=0.5)
    if count != len(engine.peers) + 1:
        raise NotGradable(
            t(f"{timeout:.0f}초 안에 노드 {len(engine.peers) + 1}개 중 {count}개만 준비되었습니다.",
              f"Only {count} of {len(engine.peers) + 1} nodes were ready within {timeout:.0f} s."),
            t("docker node ls 와 워커 엔진의 로그를 보세요.", "read docker node ls and the workers' engine logs."))
    progress(f"orchlab: {count} nodes ready in {waited:.1f} s")
