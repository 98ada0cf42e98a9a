"""Which labs' stacks run a healthcheck, read from their files, and the order ``orchlab grade --jobs`` starts them in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.grading.roster import Student
from pytest_orchlab.grading.runner import ClassRun
from pytest_orchlab.submission.healthcheck import compose_healthcheck, declared_healthcheck, dockerfile_healthcheck
from tests.helpers import SAMPLE


def test_the_course_files_run_none_and_the_variant_runs_one() -> None:
    assert declared_healthcheck(LabFolder.at(SAMPLE)) is None
    assert declared_healthcheck(LabFolder.at(SAMPLE / "variants" / "healthcheck")) == "phase2/docker-compose.yml: web"


@pytest.mark.parametrize(("dockerfile", "runs"), [
    ("FROM python:3.9-slim\nCMD python app.py\n", False),
    ("FROM x\nHEALTHCHECK --interval=2s CMD curl -f localhost:5000\n", True),
    ("FROM x\nhealthcheck CMD true\n", True),
    ("FROM x\nHEALTHCHECK CMD true\nHEALTHCHECK NONE\n", False),  # the last one counts, as in docker build
    ("FROM x\n# HEALTHCHECK CMD true\n", False),
])
def test_a_dockerfile_healthcheck_is_its_last_instruction(dockerfile: str, runs: bool) -> None:
    assert dockerfile_healthcheck(dockerfile) is runs


@pytest.mark.parametrize(("web", "image_has_one", "running"), [
    ({}, False, []),
    ({}, True, ["web"]),  # the image's HEALTHCHECK runs in every task
    ({"healthcheck": {"test": ["CMD", "true"], "interval": "1s"}}, False, ["web"]),
    ({"healthcheck": {"disable": True}}, True, []),
    ({"healthcheck": {"test": ["NONE"]}}, True, []),
    ({"healthcheck": {"test": "NONE"}}, True, []),
])
def test_compose_overrides_the_image(web: dict[str, object], image_has_one: bool, running: list[str]) -> None:
    assert compose_healthcheck({"services": {"web": web}}, image_has_one) == running


def test_broken_or_missing_files_schedule_as_none(tmp_path: Path) -> None:
    assert declared_healthcheck(LabFolder.at(tmp_path)) is None
    (tmp_path / "phase2").mkdir()
    (tmp_path / "phase2" / "docker-compose.yml").write_text("services: [web:\n")
    assert declared_healthcheck(LabFolder.at(tmp_path)) is None
    assert compose_healthcheck("just a string", True) == []
    (tmp_path / "phase2" / "docker-compose.yml").write_text("services:\n  1:\n    healthcheck:\n      test: [CMD, 'true']\n")
    assert declared_healthcheck(LabFolder.at(tmp_path)) == "phase2/docker-compose.yml: 1"  # a key YAML reads as a number


def test_class_grading_starts_students_with_a_healthcheck_last(tmp_path: Path) -> None:
    for sid, source in (("ann", SAMPLE / "variants" / "healthcheck"), ("bo", SAMPLE), ("cy", SAMPLE / "variants" / "healthcheck"), ("di", SAMPLE)):
        shutil.copytree(source, tmp_path / sid, ignore=shutil.ignore_patterns("variants"))
    said: list[str] = []
    run = ClassRun([Student(s, tmp_path / s) for s in ("ann", "bo", "cy", "di")], tmp_path / "out", ["true"], jobs=2, progress=said.append)
    assert run.order() == [1, 3, 0, 2]
    assert said == ["orchlab: 2 of 4 students' stacks run a healthcheck: they start last, so that their stacks do not "
                    "hold up the others' CPU sweeps"]
