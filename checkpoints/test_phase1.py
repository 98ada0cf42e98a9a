"""Phase 1: 단일 컨테이너 장애 시나리오 체험 — one test per item of the lab's checklist."""

from __future__ import annotations

import pytest

from pytest_orchlab import grading
from pytest_orchlab.container import WebContainer
from pytest_orchlab.engine import Engine
from pytest_orchlab.fixtures import Grade
from pytest_orchlab.grading import Verdict
from pytest_orchlab.image import BuiltImage
from pytest_orchlab.load import Saturation
from pytest_orchlab.outage import Outage
from pytest_orchlab.text import t

pytestmark = pytest.mark.phase1


@pytest.mark.checkpoint("p1-image-builds", points=1)
def test_image_builds(lab_image: BuiltImage, docker_engine: Engine, grade: Grade) -> None:
    image = docker_engine.client.images.get(lab_image.tag)
    config = image.attrs["Config"]
    grade(Verdict(
        passed=image.id == lab_image.image_id,
        seen=t(f"simple-web:v1 빌드 완료 ({lab_image.seconds:.1f}초, {image.short_id})",
               f"simple-web:v1 built ({lab_image.seconds:.1f} s, {image.short_id})"),
        evidence={"image": lab_image.tag, "id": image.short_id, "seconds": round(lab_image.seconds, 1),
                  "from_swapped": [list(s) for s in lab_image.from_swaps], "cmd": config.get("Cmd"),
                  "exposed_ports": sorted(config.get("ExposedPorts") or {})},
    ))


@pytest.mark.checkpoint("p1-container-serves", points=1, requires=["p1-image-builds"])
def test_container_serves(web_app: WebContainer, grade: Grade) -> None:
    grade(grading.serves(web_app.observe()))


@pytest.mark.checkpoint("p1-cpu-saturation", points=2, requires=["p1-container-serves"])
def test_cpu_saturation(saturation: Saturation, grade: Grade) -> None:
    grade(grading.cpu_saturation(saturation))


@pytest.mark.checkpoint("p1-latency-rises", points=1, requires=["p1-container-serves"])
def test_latency_rises(saturation: Saturation, grade: Grade) -> None:
    grade(grading.latency_rises(saturation))


@pytest.mark.checkpoint("p1-requests-fail", points=1, requires=["p1-container-serves"])
def test_requests_fail(saturation: Saturation, grade: Grade) -> None:
    grade(grading.requests_fail(saturation))


@pytest.mark.checkpoint("p1-throughput-ceiling", points=1, requires=["p1-container-serves"])
def test_throughput_ceiling(saturation: Saturation, grade: Grade) -> None:
    grade(grading.throughput_ceiling(saturation))


@pytest.mark.checkpoint("p1-kill-outage", points=2, requires=["p1-container-serves"])
def test_kill_outage(outage: Outage, grade: Grade) -> None:
    grade(grading.kill_outage(outage))


@pytest.mark.checkpoint("p1-manual-recovery", points=2, requires=["p1-kill-outage"])
def test_manual_recovery(outage: Outage, grade: Grade) -> None:
    grade(grading.manual_recovery(outage))
