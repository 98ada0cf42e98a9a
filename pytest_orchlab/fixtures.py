"""The lab's environments as fixtures; each one's docstring is the manual (``pytest --fixtures``).

Every provisioner is a context manager from the plain-Python modules; a fixture here only builds it
from the run's settings and yields it. Override any of them in a ``conftest.py`` to change the
environment, e.g. ``orchlab_lab_folder`` to grade a folder you generate.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from pytest_orchlab.core.errors import LabInputError, NotGradable
from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.core.names import LabNames
from pytest_orchlab.core.runs import TurnLock, forget_dead_runs, machine_alone, run_alive
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.baseimage import measuring_image
from pytest_orchlab.docker.container import WebContainer
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.docker.image import IMAGE_STEP, BuiltImage, ImageBuilder
from pytest_orchlab.docker.sweep import sweep
from pytest_orchlab.kube.connect import Cluster, find_cluster, load_image, shares_engine
from pytest_orchlab.kube.deployment import HelloDeployment, Readiness, node_port, run_namespace, wait_available
from pytest_orchlab.kube.experiments import KubeRollout, KubeScale, PodWatch, set_image
from pytest_orchlab.kube.experiments import scale_out as kube_scale_out
from pytest_orchlab.measure.steady import HostProbe
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.phase1.load import LoadProfile, Saturation, measure_saturation
from pytest_orchlab.phase1.outage import Outage, measure_outage
from pytest_orchlab.results.verdict import Verdict
from pytest_orchlab.session import STATE, LabState
from pytest_orchlab.swarm.cluster import Swarm
from pytest_orchlab.swarm.mesh import MeshCheck, check_routing_mesh
from pytest_orchlab.swarm.nodes import SwarmNodes
from pytest_orchlab.swarm.probe import NetworkProbe
from pytest_orchlab.swarm.rollout import Rollout, update_image
from pytest_orchlab.swarm.scaling import ScaleOut, scale_out
from pytest_orchlab.swarm.service import EventLog, spec_summary, wait_running
from pytest_orchlab.swarm.stack import Stack
from pytest_orchlab.swarm.verdicts import Deployment


class Grade(Protocol):
    def __call__(self, verdict: Verdict, attach: Callable[[], dict[str, Any]] | None = None) -> None: ...


def _state(request: pytest.FixtureRequest) -> LabState:
    return request.config.stash[STATE]


@contextlib.contextmanager
def _background(state: LabState, load: HostProbe | NetworkProbe) -> Iterator[None]:
    """``load`` runs between experiments too: listed so that another run's CPU measurement can pause it."""
    state.background.append(load)
    try:
        yield
    finally:
        state.background.remove(load)


@pytest.fixture(scope="session")
def orchlab_host_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The Docker engine on this machine's address (``DOCKER_HOST``, then the docker context, then the local
    socket), resolved once. It is the run's engine unless ``--swarm-nodes`` makes one of inner engines on it.

    The run holds a lock file while it lives; at start it sweeps what runs that are over left behind,
    at the end everything labelled with this run's ``orchlab.run`` id. Not gradable when no engine answers.
    """
    state = _state(request)
    engine = Engine.connect(run_id=state.run_id)
    swept = sweep(engine.client, lambda run: run != state.run_id and not run_alive(run))
    folders = forget_dead_runs()
    if swept.removed:
        state.progress(f"orchlab: swept leftovers of runs that are over: {', '.join(swept.removed)}")
    state.report.cleanup += [f"before the run: {line}" for line in swept.lines()]
    state.report.cleanup += [f"before the run: folder of run {run}" for run in folders]
    yield engine
    state.report.cleanup += sweep(engine.client, lambda run: run == state.run_id).lines()


@pytest.fixture(scope="session")
def orchlab_swarm_nodes(request: pytest.FixtureRequest, orchlab_host_engine: Engine) -> Iterator[SwarmNodes | None]:
    """With ``--swarm-nodes N`` (N > 1): N inner engines of ``--swarm-release`` on one network, the first the
    manager and the run's engine, the others its workers (swarm mode is made when Phase 2 starts). None otherwise."""
    settings = _state(request).settings
    if settings.swarm_nodes <= 1:
        yield None
        return
    with SwarmNodes(orchlab_host_engine, settings.swarm_nodes, settings.swarm_release, settings.base_image, _state(request).progress) as nodes:
        yield nodes
        _state(request).report.engine["swarm_nodes"] = nodes.describe()  # with the nodes an experiment stopped


@pytest.fixture(scope="session")
def orchlab_docker_engine(request: pytest.FixtureRequest, orchlab_host_engine: Engine, orchlab_swarm_nodes: SwarmNodes | None) -> Engine:
    """The engine every checkpoint uses, one address for all its clients (SDK, testcontainers, the ``docker``
    CLI): the host engine, or with ``--swarm-nodes`` the manager of the run's own nodes."""
    state = _state(request)
    engine = orchlab_swarm_nodes.engine if orchlab_swarm_nodes is not None and orchlab_swarm_nodes.engine else orchlab_host_engine
    state.engine = orchlab_host_engine  # where the run's labels are swept at the very end (inner nodes are gone by then)
    state.report.engine = {**engine.describe(), **({"swarm_nodes": orchlab_swarm_nodes.describe()} if orchlab_swarm_nodes else {})}
    return engine


@pytest.fixture(scope="session")
def orchlab_lab_folder(request: pytest.FixtureRequest) -> LabFolder:
    """The student's lab folder from ``--lab-dir`` (default ``~/orchestration-lab``), read once through the intake
    gate: a bounded, confined snapshot in the run's own folder that everything after reads (the folder itself is
    never written to). Override to grade a folder you generate (it is then trusted as it is)."""
    return _state(request).lab_folder()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def orchlab_image_builder(request: pytest.FixtureRequest, orchlab_docker_engine: Engine) -> ImageBuilder:
    """Builds lab images once per content, honouring ``--base-image`` for offline builds."""
    state = _state(request)
    return ImageBuilder(orchlab_docker_engine, state.settings.base_image, state.progress)


@pytest.fixture(scope="session")
def orchlab_lab_image(orchlab_lab_folder: LabFolder, orchlab_image_builder: ImageBuilder) -> BuiltImage:
    """``simple-web:v1`` built from the student's ``phase1/`` (copied; the folder is not touched)."""
    orchlab_lab_folder.require(orchlab_lab_folder.app_py, orchlab_lab_folder.dockerfile, step=IMAGE_STEP)
    return orchlab_image_builder.build(orchlab_lab_folder.phase1, "simple-web:v1", dockerfile_name=orchlab_lab_folder.dockerfile.name)


@pytest.fixture(scope="module")
def orchlab_web_app(request: pytest.FixtureRequest, orchlab_docker_engine: Engine, orchlab_lab_image: BuiltImage) -> Iterator[WebContainer]:
    """``docker run -d --name web-app -p 8080:5000 simple-web:v1``, labelled and removed afterwards."""
    names = LabNames(_state(request).settings.instance)
    with WebContainer(orchlab_docker_engine, orchlab_lab_image, name=names.container, host_port=names.host_port,
                      progress=_state(request).progress) as web:
        yield web


def _serving(web: WebContainer) -> WebContainer:
    if web.readiness is None or not web.readiness.ok:
        raise LabInputError(
            t("web-app 이 8080 에서 응답하지 않아 이 실험을 할 수 없습니다.", "web-app does not answer on 8080, so this experiment cannot run."),
            t("p1-container-serves 의 결과를 먼저 보세요.", "see p1-container-serves first."),
        )
    return web


@pytest.fixture(scope="module")
def orchlab_load_profile() -> LoadProfile:
    """How hard the saturation sweep pushes (levels, seconds per level, client timeout). Override to tune."""
    return LoadProfile()


def _helper(engine: Engine, state: LabState) -> str | None:
    """The image of orchlab's own that reads the kernel's counters beside the app (None: they are not read)."""
    try:
        return measuring_image(engine.client, state.settings.base_image)
    except NotGradable:
        return None


@pytest.fixture(scope="module")
def orchlab_saturation(request: pytest.FixtureRequest, orchlab_web_app: WebContainer, orchlab_load_profile: LoadProfile) -> Saturation:
    """One load sweep against ``web_app``: idle baseline, then rising concurrency with CPU sampled."""
    # CPU is measured one run at a time on a machine: several students graded at once queue here, first until
    # no other run's stack runs a healthcheck (idle, it still takes CPU), then until the others are between experiments.
    state = _state(request)
    with machine_alone(state.progress) as waited:
        measured = measure_saturation(_serving(orchlab_web_app), orchlab_load_profile, state.progress, _helper(orchlab_web_app.engine, state))
    measured.waited_s = sum(waited)
    return measured


@pytest.fixture(scope="module")
def orchlab_outage(request: pytest.FixtureRequest, orchlab_web_app: WebContainer) -> Outage:
    """``docker kill web-app``, probes of the published port, then ``docker start`` and the downtime."""
    return measure_outage(_serving(orchlab_web_app), progress=_state(request).progress)


@pytest.fixture
def orchlab_grade(request: pytest.FixtureRequest) -> Grade:
    """Record a checkpoint's :class:`Verdict` as evidence; fail it (no traceback) if not passed, or
    report it not gradable if the verdict says its measurement was incomplete.

    ``orchlab_grade(verdict, attach=fn)``: on failure, ``fn()`` adds what a teacher would ask for to the
    evidence. A checkpoint that never calls it is not gradable: no verdict, no pass.
    """
    state = _state(request)

    def record(verdict: Verdict, attach: Callable[[], dict[str, Any]] | None = None) -> None:
        if not verdict.passed and attach is not None:
            try:
                extra = attach()
            except Exception as exc:  # noqa: BLE001 - evidence must not hide the verdict it explains
                extra = {"evidence_error": f"{type(exc).__name__}: {exc}"}
            verdict = dataclasses.replace(verdict, evidence={**verdict.evidence, **extra})
        state.verdicts[request.node.nodeid] = verdict
        if not verdict.gradable:
            raise NotGradable(verdict.seen, verdict.hint)
        if not verdict.passed:
            pytest.fail(verdict.seen.render(state.settings.lang), pytrace=False)

    return record


# --- Phase 2: Docker Swarm -------------------------------------------------------------------


def _apply_sed(ctx: Path) -> None:
    """The lab's ``sed -i 's/Hello from/Greetings from/g' app.py``, on the build copy only (bytes, as sed works)."""
    app = ctx / "app.py"
    app.write_bytes(app.read_bytes().replace(b"Hello from", b"Greetings from"))


@pytest.fixture(scope="session")
def orchlab_lab_image_v2(orchlab_lab_folder: LabFolder, orchlab_image_builder: ImageBuilder, orchlab_lab_image: BuiltImage) -> BuiltImage:
    """``simple-web:v2`` made as the lab makes it: its ``sed`` on a copy of the student's ``app.py``."""
    v2 = orchlab_image_builder.build(orchlab_lab_folder.phase1, "simple-web:v2", _apply_sed, dockerfile_name=orchlab_lab_folder.dockerfile.name)
    if v2.image_id == orchlab_lab_image.image_id:
        raise LabInputError(
            t("sed 's/Hello from/Greetings from/g' 가 app.py 를 바꾸지 못했습니다: v2 가 v1 과 같습니다.",
              "sed 's/Hello from/Greetings from/g' changed nothing in app.py: v2 would be v1."),
            t("app.py 는 'Hello from' 을 출력해야 합니다.", "app.py must print 'Hello from'."),
        )
    return v2


@pytest.fixture(scope="module")
def orchlab_lab_swarm(request: pytest.FixtureRequest, orchlab_docker_engine: Engine) -> Iterator[Swarm]:
    """Swarm mode: ``docker swarm init`` when inactive (left again at the end); a user's swarm is used as is."""
    with Swarm(orchlab_docker_engine, _state(request).progress) as swarm:
        yield swarm


@pytest.fixture(scope="module")
def orchlab_webapp_stack(request: pytest.FixtureRequest, orchlab_docker_engine: Engine, orchlab_lab_swarm: Swarm, orchlab_lab_folder: LabFolder,
                         orchlab_lab_image: BuiltImage) -> Iterator[Stack]:
    """Stack ``webapp`` from the student's ``phase2/docker-compose.yml`` (a labelled copy using the built
    ``simple-web:v1``), or the student's own running ``webapp`` stack, put back as found at the end."""
    with Stack(orchlab_docker_engine, orchlab_lab_folder, {"simple-web:v1": orchlab_lab_image.tag}, _state(request).progress,
               LabNames(_state(request).settings.instance)) as stack:
        yield stack


@pytest.fixture(scope="module")
def orchlab_deployment(request: pytest.FixtureRequest, orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack) -> Deployment:
    """The stack once its tasks run (up to 60 s), with its networks and whether the routing mesh answers."""
    svc = orchlab_webapp_stack.service
    _state(request).progress("orchlab: waiting up to 60 s for webapp_web's tasks to run ...")
    spec = spec_summary(svc)
    _, waited, rows = wait_running(svc, spec["replicas"] or 0, 60.0)
    drivers = {}
    for net_id in spec["networks"]:
        net = orchlab_docker_engine.client.networks.get(net_id)
        drivers[net.name] = net.attrs.get("Driver", "")
    port = orchlab_webapp_stack.lab_port
    mesh = check_routing_mesh(orchlab_docker_engine.published_host, port) if rows else MeshCheck(False, ["no task running"], None, 0.0)
    if orchlab_webapp_stack.published:
        # One of several runs on one engine published the lab's 8080 elsewhere: judge what the student wrote.
        back = {moved: lab for lab, moved in orchlab_webapp_stack.published.items()}
        spec["ports"] = [{**p, "PublishedPort": back.get(p.get("PublishedPort"), p.get("PublishedPort"))} for p in spec["ports"]]
        spec["published_as"] = dict(orchlab_webapp_stack.published)
    if not orchlab_webapp_stack.adopted:
        spec["compose_file"] = orchlab_webapp_stack.lab.relative(orchlab_webapp_stack.lab.compose_file)
    return Deployment(len(rows), waited, spec, drivers, mesh, rows)


@pytest.fixture(scope="session")
def orchlab_progress(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Prints a live progress line (shown even while output is captured)."""
    return _state(request).progress


@pytest.fixture(scope="module")
def orchlab_scaled_out(orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_deployment: Deployment,
                       orchlab_progress: Callable[[str], None]) -> ScaleOut:
    """``docker service scale webapp_web=5``, waited for (up to 60 s)."""
    return scale_out(orchlab_docker_engine, orchlab_webapp_stack.service, 5, progress=orchlab_progress)


@pytest.fixture(scope="module")
def orchlab_service_events(orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_deployment: Deployment) -> Iterator[EventLog]:
    """webapp_web's container events (create, start, kill, die), recorded live for the whole of Phase 2."""
    with EventLog(orchlab_docker_engine, orchlab_webapp_stack.service) as log:
        yield log


@pytest.fixture(scope="module")
def orchlab_rolling_update(orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack, orchlab_steady_traffic: Timeline,
                           orchlab_service_events: EventLog, orchlab_lab_image_v2: BuiltImage, orchlab_progress: Callable[[str], None]) -> Rollout:
    """``docker service update --image simple-web:v2 webapp_web``, followed to completion under steady traffic."""
    return update_image(orchlab_docker_engine, orchlab_webapp_stack.service, orchlab_lab_image_v2.tag, orchlab_steady_traffic,
                        orchlab_service_events, orchlab_progress)


@pytest.fixture(scope="module")
def orchlab_steady_traffic(request: pytest.FixtureRequest, orchlab_docker_engine: Engine, orchlab_webapp_stack: Stack,
                           orchlab_deployment: Deployment, orchlab_lab_image: BuiltImage) -> Iterator[Timeline]:
    """Requests at 50/s for the whole of Phase 2, through the routing mesh where it works, else from
    a probe inside the stack's overlay network that follows the engine's DNS answers (see
    ``pytest_orchlab.swarm.probe``). The path is in the evidence."""
    timeline = Timeline()
    if not orchlab_deployment.running:
        raise LabInputError(t("webapp_web 작업이 실행되지 않아 측정할 수 없습니다.", "webapp_web has no running task to measure."),
                            t("p2-stack-deployed 를 먼저 보세요.", "see p2-stack-deployed first."))
    state = _state(request)
    if orchlab_deployment.mesh.works:
        with HostProbe(orchlab_docker_engine.published_host, orchlab_webapp_stack.lab_port, timeline, clock=orchlab_docker_engine.now,
                       what="published port (ingress routing mesh)") as host_probe, _background(state, host_probe):
            yield timeline
        return
    state.progress("orchlab: " + orchlab_deployment.mesh.diagnosis.en)
    network = next((name for name, driver in orchlab_deployment.network_drivers.items() if driver == "overlay"), None)
    if network is None:
        raise LabInputError(t("webapp_web 이 overlay 네트워크에 없어 측정할 수 없습니다.", "webapp_web is on no overlay network, so it cannot be measured."),
                            t("p2-stack-deployed 를 먼저 보세요.", "see p2-stack-deployed first."))
    if not orchlab_docker_engine.client.networks.get(network).attrs.get("Attachable"):
        raise NotGradable(
            t(f"라우팅 메시가 없고(IPVS 없음) 실행 중인 스택의 네트워크 {network} 에 프로브를 붙일 수 없습니다.",
              f"There is no routing mesh here (no IPVS), and your running stack's network {network} is not attachable for a probe."),
            t("`docker stack rm webapp` 으로 스택을 내리면 orchlab 이 직접 배포해 측정합니다.",
              "remove your stack with `docker stack rm webapp` and orchlab deploys and measures its own copy."),
        )
    image = measuring_image(orchlab_docker_engine.client, state.settings.base_image)  # ours, never the student's image
    with NetworkProbe(orchlab_docker_engine, image, network, orchlab_webapp_stack.names.service, timeline) as probe:
        if not timeline.wait_for(1, 0, 15.0):
            raise NotGradable(
                t(f"오버레이 네트워크 프로브가 15초 안에 아무것도 보고하지 않았습니다. 로그: {probe.logs()}",
                  f"The in-network probe reported nothing within 15 s. Its logs: {probe.logs()}"),
                t(f"프로브 이미지 {image} 에 python3 가 있는지 확인하세요.", f"check that the probe image {image} has python3."),
            )
        with _background(state, probe):
            yield timeline


# --- Phase 3: Kubernetes ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def orchlab_kube_cluster(request: pytest.FixtureRequest) -> Cluster:
    """The student's cluster: ``--kubeconfig``/``--kube-context``, ``KUBECONFIG``, ``~/.kube/config``, then the
    running orchlab cluster (``orchlab cluster up``); the first that answers. Not gradable when none does."""
    settings = _state(request).settings
    cluster = find_cluster(settings.kubeconfig, settings.kube_context)
    _state(request).report.cluster = cluster.describe()
    return cluster


@pytest.fixture(scope="module")
def orchlab_hello_k8s(request: pytest.FixtureRequest, orchlab_kube_cluster: Cluster, orchlab_docker_engine: Engine,
                      orchlab_lab_folder: LabFolder, orchlab_lab_image: BuiltImage) -> Iterator[HelloDeployment]:
    """Deployment and NodePort service ``hello-k8s``: the student's own (graded in place, put back as found),
    the lab folder's ``phase3/`` manifests, or what the lab's kubectl commands create (removed at the end)."""
    state = _state(request)
    state.progress("orchlab: " + load_image(orchlab_kube_cluster, orchlab_docker_engine.client, orchlab_lab_image.tag).en)
    shared = orchlab_docker_engine.client if shares_engine(orchlab_kube_cluster, orchlab_docker_engine.client) else None
    # hello-k8s is one name in one namespace: several students graded at once take Phase 3 in turn. A graded run
    # (an instance) works in a namespace of its own, so it never meets, adopts or deletes anybody else's objects.
    instance = state.settings.instance
    namespace = run_namespace(instance, state.run_id) if instance else "default"
    with TurnLock("kube", state.progress), HelloDeployment(orchlab_kube_cluster, orchlab_lab_folder, orchlab_lab_image.tag, state.run_id,
                                                           namespace, progress=state.progress, engine_client=shared,
                                                           own_namespace=bool(instance)) as dep:
        yield dep


@pytest.fixture(scope="module")
def orchlab_kube_ready(orchlab_hello_k8s: HelloDeployment, orchlab_progress: Callable[[str], None]) -> Readiness:
    """The deployment once available (up to 60 s), or what stopped it: pod reasons, logs, events."""
    orchlab_progress("orchlab: waiting up to 60 s for hello-k8s to be available ...")
    return wait_available(orchlab_hello_k8s, timeout=60.0)


@pytest.fixture(scope="module")
def orchlab_kube_traffic(request: pytest.FixtureRequest, orchlab_kube_cluster: Cluster, orchlab_hello_k8s: HelloDeployment,
                         orchlab_kube_ready: Readiness) -> Iterator[Timeline]:
    """Requests at 50/s through the NodePort from this machine for the rest of Phase 3."""
    port = node_port(orchlab_hello_k8s)
    if port is None or not orchlab_kube_ready.ready:
        raise LabInputError(t("NodePort 서비스나 준비된 파드가 없어 측정할 수 없습니다.", "There is no NodePort service or no ready pod to measure."),
                            t("p3-deployment-ready 와 p3-nodeport-exposed 를 먼저 보세요.", "see p3-deployment-ready and p3-nodeport-exposed first."))
    timeline = Timeline()
    with HostProbe(orchlab_kube_cluster.node_address, port, timeline, what="NodePort") as probe, _background(_state(request), probe):
        yield timeline


@pytest.fixture(scope="module")
def orchlab_pod_watch(orchlab_hello_k8s: HelloDeployment) -> Iterator[PodWatch]:
    """hello-k8s's pod changes, recorded live from a watch for the whole of Phase 3."""
    with PodWatch(orchlab_hello_k8s) as watch:
        yield watch


@pytest.fixture(scope="module")
def orchlab_kube_scaled(orchlab_hello_k8s: HelloDeployment, orchlab_kube_traffic: Timeline, orchlab_progress: Callable[[str], None]) -> KubeScale:
    """``kubectl scale deployment hello-k8s --replicas=5``, then 30 requests through the NodePort."""
    return kube_scale_out(orchlab_hello_k8s, orchlab_kube_traffic, progress=orchlab_progress)


@pytest.fixture(scope="module")
def orchlab_kube_rolling_update(orchlab_kube_cluster: Cluster, orchlab_docker_engine: Engine, orchlab_hello_k8s: HelloDeployment,
                                orchlab_kube_traffic: Timeline, orchlab_lab_image_v2: BuiltImage,
                                orchlab_progress: Callable[[str], None]) -> KubeRollout:
    """``kubectl set image`` to ``simple-web:v2`` (the lab's sed), followed until every pod runs it, under steady traffic."""
    orchlab_progress("orchlab: " + load_image(orchlab_kube_cluster, orchlab_docker_engine.client, orchlab_lab_image_v2.tag).en)
    return set_image(orchlab_hello_k8s, orchlab_lab_image_v2.tag, orchlab_kube_traffic, progress=orchlab_progress)


# --- Phase 2 on several nodes (--swarm-nodes, marker phase2x) ---------------------------------


@pytest.fixture(scope="session")
def orchlab_nodes(orchlab_swarm_nodes: SwarmNodes | None) -> SwarmNodes:
    """The run's swarm nodes; not gradable without ``--swarm-nodes`` (the multi-node checkpoints need workers)."""
    if orchlab_swarm_nodes is None:
        raise NotGradable(t("이 체크포인트는 노드가 여러 개인 Swarm 이 필요합니다.", "This checkpoint needs a swarm of several nodes."),
                          t("--swarm-nodes 3 으로 실행하면 orchlab 이 내부 엔진 3개로 Swarm 을 만듭니다 (먼저 `orchlab engines build 20.10`).",
                            "run with --swarm-nodes 3 and orchlab makes a swarm of three inner engines (first `orchlab engines build 20.10`)."))
    return orchlab_swarm_nodes
