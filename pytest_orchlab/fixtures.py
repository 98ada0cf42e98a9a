"""The lab's environments as fixtures; each one's docstring is the manual (``pytest --fixtures``).

Every provisioner is a context manager from the plain-Python modules; a fixture here only builds it
from the run's settings and yields it. Override any of them in a ``conftest.py`` to change the
environment, e.g. ``lab_folder`` to grade a folder you generate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from .container import WebContainer
from .engine import Engine, connect, published_host
from .errors import LabInputError, NotGradable
from .grading import Verdict
from .image import IMAGE_STEP, BuiltImage, ImageBuilder
from .labdir import LabFolder
from .load import LoadProfile, Saturation, measure_saturation
from .mesh import MeshCheck, check_routing_mesh
from .outage import Outage, measure_outage
from .rollout import Rollout, update_image
from .scaling import ScaleOut, scale_out
from .service import EventLog, spec_summary, wait_running
from .stack import SERVICE, Stack
from .swarm import Swarm
from .swarm_grading import Deployment
from .text import t
from .timeline import HostProbe, NetworkProbe, Timeline


class Grade(Protocol):
    def __call__(self, verdict: Verdict, attach: Callable[[], dict[str, Any]] | None = None) -> None: ...


def _state(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from .plugin import STATE

    return request.config.stash[STATE]


@pytest.fixture(scope="session")
def docker_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The Docker engine (``DOCKER_HOST`` or the local socket), reached through the Engine API.

    At start it sweeps what crashed orchlab runs on this machine left behind; at the end it removes
    everything labelled with this run's ``orchlab.run`` id. Not gradable when no engine answers.
    """
    state = _state(request)
    engine = Engine(connect(), run_id=state.run_id)
    state.engine = engine
    state.report.engine = engine.describe()
    swept = engine.sweep(only_this_run=False)
    if swept:
        state.progress(f"orchlab: swept leftovers of crashed runs: {', '.join(swept)}")
    yield engine
    state.report.cleanup += engine.sweep(only_this_run=True)


@pytest.fixture(scope="session")
def lab_folder(request: pytest.FixtureRequest) -> LabFolder:
    """The student's lab folder from ``--lab-dir`` (default ``~/orchestration-lab``). Never written to."""
    return LabFolder.at(_state(request).settings.lab_dir)


@pytest.fixture(scope="session")
def image_builder(request: pytest.FixtureRequest, docker_engine: Engine) -> ImageBuilder:
    """Builds lab images once per content, honouring ``--base-image`` for offline builds."""
    state = _state(request)
    return ImageBuilder(docker_engine, state.settings.base_image, state.progress)


@pytest.fixture(scope="session")
def lab_image(lab_folder: LabFolder, image_builder: ImageBuilder) -> BuiltImage:
    """``simple-web:v1`` built from the student's ``phase1/`` (copied; the folder is not touched)."""
    lab_folder.require(lab_folder.app_py, lab_folder.dockerfile, step=IMAGE_STEP)
    return image_builder.build(lab_folder.phase1, "simple-web:v1")


@pytest.fixture(scope="module")
def web_app(request: pytest.FixtureRequest, docker_engine: Engine, lab_image: BuiltImage) -> Iterator[WebContainer]:
    """``docker run -d --name web-app -p 8080:5000 simple-web:v1``, labelled and removed afterwards."""
    with WebContainer(docker_engine, lab_image, progress=_state(request).progress) as web:
        yield web


def _serving(web: WebContainer) -> WebContainer:
    if web.readiness is None or not web.readiness.ok:
        raise LabInputError(
            t("web-app 이 8080 에서 응답하지 않아 이 실험을 할 수 없습니다.", "web-app does not answer on 8080, so this experiment cannot run."),
            t("p1-container-serves 의 결과를 먼저 보세요.", "see p1-container-serves first."),
        )
    return web


@pytest.fixture(scope="module")
def load_profile() -> LoadProfile:
    """How hard the saturation sweep pushes (levels, seconds per level, client timeout). Override to tune."""
    return LoadProfile()


@pytest.fixture(scope="module")
def saturation(request: pytest.FixtureRequest, web_app: WebContainer, load_profile: LoadProfile) -> Saturation:
    """One load sweep against ``web_app``: idle baseline, then rising concurrency with CPU sampled."""
    return measure_saturation(_serving(web_app), load_profile, _state(request).progress)


@pytest.fixture(scope="module")
def outage(request: pytest.FixtureRequest, web_app: WebContainer) -> Outage:
    """``docker kill web-app``, probes of the published port, then ``docker start`` and the downtime."""
    return measure_outage(_serving(web_app), progress=_state(request).progress)


@pytest.fixture
def grade(request: pytest.FixtureRequest) -> Grade:
    """Record a checkpoint's :class:`Verdict` as evidence and fail it, without a traceback, if not passed.

    ``grade(verdict, attach=fn)``: on failure, ``fn()`` adds what a teacher would ask for to the evidence.
    """
    state = _state(request)

    def record(verdict: Verdict, attach: Callable[[], dict[str, Any]] | None = None) -> None:
        if not verdict.passed and attach is not None:
            verdict = Verdict(verdict.passed, verdict.seen, {**verdict.evidence, **attach()}, verdict.hint)
        state.verdicts[request.node.nodeid] = verdict
        if not verdict.passed:
            pytest.fail(verdict.seen.render(state.settings.lang), pytrace=False)

    return record


# --- Phase 2: Docker Swarm -------------------------------------------------------------------


def _apply_sed(ctx: Path) -> None:
    """The lab's ``sed -i 's/Hello from/Greetings from/g' app.py``, on the build copy only."""
    app = ctx / "app.py"
    app.write_text(app.read_text().replace("Hello from", "Greetings from"))


@pytest.fixture(scope="session")
def lab_image_v2(lab_folder: LabFolder, image_builder: ImageBuilder, lab_image: BuiltImage) -> BuiltImage:
    """``simple-web:v2`` made as the lab makes it: its ``sed`` on a copy of the student's ``app.py``."""
    v2 = image_builder.build(lab_folder.phase1, "simple-web:v2", _apply_sed)
    if v2.image_id == lab_image.image_id:
        raise LabInputError(
            t("sed 's/Hello from/Greetings from/g' 가 app.py 를 바꾸지 못했습니다: v2 가 v1 과 같습니다.",
              "sed 's/Hello from/Greetings from/g' changed nothing in app.py: v2 would be v1."),
            t("app.py 는 'Hello from' 을 출력해야 합니다.", "app.py must print 'Hello from'."),
        )
    return v2


@pytest.fixture(scope="module")
def lab_swarm(request: pytest.FixtureRequest, docker_engine: Engine) -> Iterator[Swarm]:
    """Swarm mode: ``docker swarm init`` when inactive (left again at the end); a user's swarm is used as is."""
    with Swarm(docker_engine, _state(request).progress) as swarm:
        yield swarm


@pytest.fixture(scope="module")
def webapp_stack(request: pytest.FixtureRequest, docker_engine: Engine, lab_swarm: Swarm, lab_folder: LabFolder,
                 lab_image: BuiltImage) -> Iterator[Stack]:
    """Stack ``webapp`` from the student's ``phase2/docker-compose.yml`` (a labelled copy using the built
    ``simple-web:v1``), or the student's own running ``webapp`` stack, put back as found at the end."""
    with Stack(docker_engine, lab_folder, {"simple-web:v1": lab_image.tag}, _state(request).progress) as stack:
        yield stack


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest, docker_engine: Engine, webapp_stack: Stack) -> Deployment:
    """The stack once its tasks run (up to 60 s), with its networks and whether the routing mesh answers."""
    svc = webapp_stack.service
    _state(request).progress("orchlab: waiting up to 60 s for webapp_web's tasks to run ...")
    spec = spec_summary(svc)
    _, waited, rows = wait_running(svc, spec["replicas"] or 0, 60.0)
    drivers = {}
    for net_id in spec["networks"]:
        net = docker_engine.client.networks.get(net_id)
        drivers[net.name] = net.attrs.get("Driver", "")
    mesh = check_routing_mesh(published_host(), 8080) if rows else MeshCheck(False, ["no task running"], None, 0.0)
    return Deployment(len(rows), waited, spec, drivers, mesh, rows)


@pytest.fixture(scope="session")
def orchlab_progress(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Prints a live progress line (shown even while output is captured)."""
    return _state(request).progress  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def scaled_out(docker_engine: Engine, webapp_stack: Stack, deployment: Deployment, orchlab_progress: Callable[[str], None]) -> ScaleOut:
    """``docker service scale webapp_web=5``, waited for (up to 60 s)."""
    return scale_out(docker_engine, webapp_stack.service, 5, progress=orchlab_progress)


@pytest.fixture(scope="module")
def service_events(docker_engine: Engine, webapp_stack: Stack, deployment: Deployment) -> Iterator[EventLog]:
    """webapp_web's container events (create, start, kill, die), recorded live for the whole of Phase 2."""
    with EventLog(docker_engine, webapp_stack.service) as log:
        yield log


@pytest.fixture(scope="module")
def rolling_update(docker_engine: Engine, webapp_stack: Stack, steady_traffic: Timeline, service_events: EventLog,
                   lab_image_v2: BuiltImage, orchlab_progress: Callable[[str], None]) -> Rollout:
    """``docker service update --image simple-web:v2 webapp_web``, followed to completion under steady traffic."""
    return update_image(docker_engine, webapp_stack.service, lab_image_v2.tag, steady_traffic, service_events, orchlab_progress)


@pytest.fixture(scope="module")
def steady_traffic(request: pytest.FixtureRequest, docker_engine: Engine, webapp_stack: Stack, deployment: Deployment,
                   lab_image: BuiltImage) -> Iterator[Timeline]:
    """Requests at 20/s for the whole of Phase 2, through the routing mesh where it works, else from
    a probe inside the stack's overlay network (see ``orchlab.timeline``). The path is in the evidence."""
    timeline = Timeline()
    if not deployment.running:
        raise LabInputError(t("webapp_web 작업이 실행되지 않아 측정할 수 없습니다.", "webapp_web has no running task to measure."),
                            t("p2-stack-deployed 를 먼저 보세요.", "see p2-stack-deployed first."))
    if deployment.mesh.works:
        with HostProbe(published_host(), 8080, timeline):
            yield timeline
        return
    state = _state(request)
    state.progress("orchlab: " + deployment.mesh.diagnosis.en)
    network = next((name for name, driver in deployment.network_drivers.items() if driver == "overlay"), None)
    if network is None:
        raise LabInputError(t("webapp_web 이 overlay 네트워크에 없어 측정할 수 없습니다.", "webapp_web is on no overlay network, so it cannot be measured."),
                            t("p2-stack-deployed 를 먼저 보세요.", "see p2-stack-deployed first."))
    if not docker_engine.client.networks.get(network).attrs.get("Attachable"):
        raise NotGradable(
            t(f"라우팅 메시가 없고(IPVS 없음) 실행 중인 스택의 네트워크 {network} 에 프로브를 붙일 수 없습니다.",
              f"There is no routing mesh here (no IPVS), and your running stack's network {network} is not attachable for a probe."),
            t("`docker stack rm webapp` 으로 스택을 내리면 orchlab 이 직접 배포해 측정합니다.",
              "remove your stack with `docker stack rm webapp` and orchlab deploys and measures its own copy."),
        )
    image = state.settings.base_image or lab_image.tag
    with NetworkProbe(docker_engine, image, network, SERVICE, timeline) as probe:
        if not timeline.wait_for(1, 0, 15.0):
            raise NotGradable(
                t(f"오버레이 네트워크 프로브가 15초 안에 아무것도 보고하지 않았습니다. 로그: {probe.logs()}",
                  f"The in-network probe reported nothing within 15 s. Its logs: {probe.logs()}"),
                t(f"프로브 이미지 {image} 에 python3 가 있는지 확인하세요.", f"check that the probe image {image} has python3."),
            )
        yield timeline
