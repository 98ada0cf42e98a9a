"""The lab's environments as fixtures; each one's docstring is the manual (``pytest --fixtures``).

Every provisioner is a context manager from the plain-Python modules; a fixture here only builds it
from the run's settings and yields it. Override any of them in a ``conftest.py`` to change the
environment, e.g. ``lab_folder`` to grade a folder you generate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .container import WebContainer
from .engine import Engine, connect
from .errors import LabInputError
from .grading import Verdict
from .image import IMAGE_STEP, BuiltImage, ImageBuilder
from .labdir import LabFolder
from .load import LoadProfile, Saturation, measure_saturation
from .outage import Outage, measure_outage
from .text import t


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
    engine.sweep(only_this_run=True)


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
def grade(request: pytest.FixtureRequest) -> Callable[[Verdict], None]:
    """Record a checkpoint's :class:`Verdict` as evidence and fail it, without a traceback, if not passed."""
    state = _state(request)

    def record(verdict: Verdict) -> None:
        state.verdicts[request.node.nodeid] = verdict
        if not verdict.passed:
            pytest.fail(verdict.seen.render(state.settings.lang), pytrace=False)

    return record
