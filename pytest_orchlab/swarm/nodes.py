"""``--swarm-nodes N``: a swarm's machines, made of inner engines (Docker-in-Docker) on one network.

One inner engine of the chosen Docker release per node, started from the host engine on a bridge
network of their own: the first is the manager (the run's engine from then on), the others are its
workers. :class:`~pytest_orchlab.swarm.cluster.Swarm` makes swarm mode on them when Phase 2 starts
(Phase 1 measures CPU with swarm mode off). Every container, volume and the network carry the run's
label; all of it goes at the end, also on Ctrl-C, and after a crash with the next run's sweep.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import docker
import docker.errors

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import RUN_LABEL, Engine, Peer
from pytest_orchlab.docker.engines import ENGINE_LABEL, InnerEngine, release_of, remove_engines, start_engine

NODES_LABEL = "orchlab.swarm-nodes"  # the run whose nodes these are
MAX_NODES = 5


class SwarmNodes:
    """N inner engines of ``release`` on a network of their own: the manager's :class:`Engine` has the others as peers."""

    def __init__(self, host: Engine, count: int, release: str, base_image: str | None, progress: Progress = print) -> None:
        if not 2 <= count <= MAX_NODES:
            raise OrchlabError(t(f"--swarm-nodes 는 2~{MAX_NODES} 이어야 합니다 ({count}).", f"--swarm-nodes must be 2 to {MAX_NODES}, not {count}."))
        self.host, self.count, self.release = host, count, release_of(release)
        self.base_image, self.progress = base_image, progress
        self.inner: list[InnerEngine] = []
        self.engine: Engine | None = None
        self.stopped: list[str] = []
        suffix = host.run_id.lower()[-4:]
        self.names = ["manager" if n == 0 else f"worker{n}" for n in range(count)]
        self.nodes = [f"{name}-{suffix}" for name in self.names]
        self.labels = {RUN_LABEL: host.run_id, NODES_LABEL: host.run_id}

    def _mine(self, labels: dict[str, str]) -> bool:
        return labels.get(NODES_LABEL) == self.host.run_id

    def __enter__(self) -> SwarmNodes:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        network = self.host.client.networks.create(f"orchlab-nodes-{self.host.run_id.lower()}", driver="bridge",
                                                   labels={**self.labels, ENGINE_LABEL: self.release})
        self.progress(f"orchlab: --swarm-nodes {self.count}: starting {self.count} Docker {self.release} engines on network {network.name} ...")

        def one(node: str) -> InnerEngine:
            return start_engine(self.host.client, self.release, labels=self.labels, base_image=self.base_image, node=node,
                                network=network.name, progress=self.progress)

        with ThreadPoolExecutor(max_workers=self.count, thread_name_prefix="orchlab-node") as pool:
            self.inner = list(pool.map(one, self.nodes))
        manager, workers = self.inner[0], self.inner[1:]
        client = docker.DockerClient(base_url=manager.address, timeout=300)
        peers = [Peer(w.container, docker.DockerClient(base_url=w.address, timeout=60), w.address) for w in workers]
        self.engine = Engine(client, self.host.run_id, manager.address, f"--swarm-nodes {self.count}: manager {manager.container}", peers)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        removed = remove_engines(self.host.client, self._mine)
        if removed:
            self.progress(f"orchlab: --swarm-nodes: removed {len(removed)} node resource(s)")

    def stop(self, peer: Peer) -> None:
        """A worker fails: its engine's container is killed, as a power cut would (tasks and all)."""
        try:
            self.host.client.containers.get(peer.name).kill()
        except docker.errors.NotFound:
            pass
        self.stopped.append(peer.name)

    def describe(self) -> dict[str, Any]:
        return {"count": self.count, "release": self.release, "stopped": list(self.stopped),
                "nodes": [{"role": "manager" if n == 0 else "worker", **vars(e)} for n, e in enumerate(self.inner)]}
