"""Phase 1: 단일 컨테이너 장애 시나리오 체험 — one test per item of the lab's checklist."""

from __future__ import annotations

import pytest

from pytest_orchlab.core.text import t
from pytest_orchlab.docker.container import WebContainer
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.docker.image import BuiltImage
from pytest_orchlab.fixtures import Grade
from pytest_orchlab.phase1 import verdicts
from pytest_orchlab.phase1.load import Saturation
from pytest_orchlab.phase1.outage import Outage
from pytest_orchlab.phase1.serving import observe
from pytest_orchlab.results.verdict import Verdict

pytestmark = pytest.mark.phase1


@pytest.mark.checkpoint("p1-image-builds", points=1)
def test_image_builds(orchlab_lab_image: BuiltImage, orchlab_docker_engine: Engine, orchlab_grade: Grade) -> None:
    image = orchlab_docker_engine.client.images.get(orchlab_lab_image.tag)
    config = image.attrs["Config"]
    orchlab_grade(Verdict(
        passed=image.id == orchlab_lab_image.image_id,
        seen=t(f"simple-web:v1 빌드 완료 ({orchlab_lab_image.seconds:.1f}초, {image.short_id})",
               f"simple-web:v1 built ({orchlab_lab_image.seconds:.1f} s, {image.short_id})"),
        evidence={"image": orchlab_lab_image.tag, "id": image.short_id, "seconds": round(orchlab_lab_image.seconds, 1),
                  "dockerfile": f"phase1/{orchlab_lab_image.dockerfile}",
                  "from_swapped": [list(s) for s in orchlab_lab_image.from_swaps], "cmd": config.get("Cmd"),
                  "exposed_ports": sorted(config.get("ExposedPorts") or {})},
    ))


@pytest.mark.checkpoint("p1-container-serves", points=1, requires=["p1-image-builds"])
def test_container_serves(orchlab_web_app: WebContainer, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.serves(observe(orchlab_web_app)))


@pytest.mark.checkpoint("p1-cpu-saturation", points=2, requires=["p1-container-serves"])
def test_cpu_saturation(orchlab_saturation: Saturation, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.cpu_saturation(orchlab_saturation))


@pytest.mark.checkpoint("p1-latency-rises", points=1, requires=["p1-container-serves"])
def test_latency_rises(orchlab_saturation: Saturation, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.latency_rises(orchlab_saturation))


@pytest.mark.checkpoint("p1-requests-fail", points=1, requires=["p1-container-serves"])
def test_requests_fail(orchlab_saturation: Saturation, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.requests_fail(orchlab_saturation))


@pytest.mark.checkpoint("p1-throughput-ceiling", points=1, requires=["p1-container-serves"])
def test_throughput_ceiling(orchlab_saturation: Saturation, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.throughput_ceiling(orchlab_saturation))


@pytest.mark.checkpoint("p1-kill-outage", points=2, requires=["p1-container-serves"])
def test_kill_outage(orchlab_outage: Outage, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.kill_outage(orchlab_outage))


@pytest.mark.checkpoint("p1-manual-recovery", points=2, requires=["p1-kill-outage"])
def test_manual_recovery(orchlab_outage: Outage, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.manual_recovery(orchlab_outage))
