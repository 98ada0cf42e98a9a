"""Phase 2's observation of the deployed stack and its steady traffic, as the fixtures use them."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from pytest_orchlab.core.errors import LabInputError, NotGradable
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.baseimage import measuring_image
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.measure.steady import HostProbe
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.swarm.mesh import MeshCheck, check_routing_mesh
from pytest_orchlab.swarm.probe import NetworkProbe
from pytest_orchlab.swarm.service import spec_summary, wait_running
from pytest_orchlab.swarm.stack import Stack
from pytest_orchlab.swarm.verdicts import Deployment

FIRST = t("p2-stack-deployed 를 먼저 보세요.", "see p2-stack-deployed first.")


def observe_deployment(engine: Engine, stack: Stack, progress: Progress, wait_s: float = 60.0) -> Deployment:
    """The stack once its tasks run (up to ``wait_s``): its spec as the student wrote it, networks, routing mesh."""
    svc = stack.service
    progress(f"orchlab: waiting up to {wait_s:.0f} s for webapp_web's tasks to run ...")
    spec = spec_summary(svc)
    _, waited, rows = wait_running(svc, spec["replicas"] or 0, wait_s)
    drivers = {}
    for net_id in spec["networks"]:
        net = engine.client.networks.get(net_id)
        drivers[net.name] = net.attrs.get("Driver", "")
    mesh = check_routing_mesh(engine.published_host, stack.lab_port) if rows else MeshCheck(False, ["no task running"], None, 0.0)
    if stack.published:
        # One of several runs on one engine published the lab's ports elsewhere: judge what the student wrote.
        back = {moved: lab for lab, moved in stack.published.items()}
        spec["ports"] = [{**p, "PublishedPort": back.get(p.get("PublishedPort"), p.get("PublishedPort"))} for p in spec["ports"]]
        spec["published_as"] = dict(stack.published)
    if not stack.adopted:
        spec["compose_file"] = stack.lab.relative(stack.lab.compose_file)
    return Deployment(len(rows), waited, spec, drivers, mesh, rows)


class SteadyTraffic:
    """Requests at 50/s for as long as the block runs: from this machine through the routing mesh where it works,
    else from orchlab's probe container on the stack's overlay network (:mod:`pytest_orchlab.swarm.probe`)."""

    def __init__(self, engine: Engine, stack: Stack, deployment: Deployment, base_image: str | None, progress: Progress) -> None:
        self.engine, self.stack, self.deployment = engine, stack, deployment
        self.base_image, self.progress = base_image, progress
        self.timeline = Timeline()
        self.load: Any = None

    def __enter__(self) -> SteadyTraffic:
        d, engine = self.deployment, self.engine
        if not d.running:
            raise LabInputError(t("webapp_web 작업이 실행되지 않아 측정할 수 없습니다.", "webapp_web has no running task to measure."), FIRST)
        if d.mesh.works:
            self.load = HostProbe(engine.published_host, self.stack.lab_port, self.timeline, clock=engine.now,
                                  what="published port (ingress routing mesh)").__enter__()
            return self
        self.progress("orchlab: " + d.mesh.diagnosis.en)
        network = next((name for name, driver in d.network_drivers.items() if driver == "overlay"), None)
        if network is None:
            raise LabInputError(t("webapp_web 이 overlay 네트워크에 없어 측정할 수 없습니다.",
                                  "webapp_web is on no overlay network, so it cannot be measured."), FIRST)
        if not engine.client.networks.get(network).attrs.get("Attachable"):
            raise NotGradable(
                t(f"라우팅 메시가 없고(IPVS 없음) 실행 중인 스택의 네트워크 {network} 에 프로브를 붙일 수 없습니다.",
                  f"There is no routing mesh here (no IPVS), and your running stack's network {network} is not attachable for a probe."),
                t("`docker stack rm webapp` 으로 스택을 내리면 orchlab 이 직접 배포해 측정합니다.",
                  "remove your stack with `docker stack rm webapp` and orchlab deploys and measures its own copy."),
            )
        image = measuring_image(engine.client, self.base_image)  # ours, never the student's image
        probe = NetworkProbe(engine, image, network, self.stack.names.service, self.timeline).__enter__()
        self.load = probe
        if not self.timeline.wait_for(1, 0, 15.0):
            logs = probe.logs()
            self.__exit__(None, None, None)
            raise NotGradable(
                t(f"오버레이 네트워크 프로브가 15초 안에 아무것도 보고하지 않았습니다. 로그: {logs}",
                  f"The in-network probe reported nothing within 15 s. Its logs: {logs}"),
                t(f"프로브 이미지 {image} 에 python3 가 있는지 확인하세요.", f"check that the probe image {image} has python3."),
            )
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.load is not None:
            self.load.__exit__(exc_type, exc, tb)
            self.load = None
