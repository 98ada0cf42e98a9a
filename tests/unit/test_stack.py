from __future__ import annotations

from pathlib import Path

import pytest

from pytest_orchlab.core.errors import LabInputError
from pytest_orchlab.swarm.stack import prepare_compose, read_compose
from tests.helpers import SAMPLE

LABELS = {"orchlab.run": "r1", "orchlab.owner": "h:1"}


def test_the_course_file_reads() -> None:
    doc = read_compose(SAMPLE / "phase2" / "docker-compose.yml")
    assert doc["services"]["web"]["deploy"]["replicas"] == 3


def test_prepared_copy_changes_only_image_labels_and_attachable() -> None:
    doc = read_compose(SAMPLE / "phase2" / "docker-compose.yml")
    out = prepare_compose(doc, {"simple-web:v1": "orchlab/simple-web:v1-abc"}, LABELS)
    web = out["services"]["web"]
    assert web["image"] == "orchlab/simple-web:v1-abc"
    assert web["labels"] == LABELS and web["deploy"]["labels"] == LABELS
    assert web["deploy"]["update_config"] == {"parallelism": 1, "delay": "10s"}
    assert out["networks"]["webnet"] == {"driver": "overlay", "labels": LABELS, "attachable": True}
    assert doc["services"]["web"]["image"] == "simple-web:v1", "the student's data is not modified"


def test_list_labels_and_default_network_are_labelled() -> None:
    doc = {"services": {"web": {"image": "x", "labels": ["team=a"], "deploy": {"labels": ["k=v"]}}}}
    out = prepare_compose(doc, {}, LABELS)
    assert out["services"]["web"]["labels"] == {"team": "a", **LABELS}
    assert out["services"]["web"]["deploy"]["labels"] == {"k": "v", **LABELS}
    assert out["networks"]["default"]["labels"] == LABELS


def test_broken_yaml_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  web:\n    image: x\n    deploy\n      replicas: 3\n")
    with pytest.raises(LabInputError) as err:
        read_compose(bad)
    assert "line 5, column" in err.value.text.en


def test_missing_web_service(tmp_path: Path) -> None:
    other = tmp_path / "docker-compose.yml"
    other.write_text("services:\n  api:\n    image: x\n")
    with pytest.raises(LabInputError, match="no services.web"):
        read_compose(other)


def test_one_of_several_runs_moves_only_the_labs_published_port() -> None:
    from pytest_orchlab.swarm.stack import remap_published

    moved = {8080: 20123}
    assert remap_published(["8080:5000", "9000:9000", "127.0.0.1:8080:5000/tcp"], moved) == ["20123:5000", "9000:9000", "127.0.0.1:20123:5000/tcp"]
    assert remap_published([{"published": 8080, "target": 5000}, {"published": "8081", "target": 5000}], moved) == [
        {"published": 20123, "target": 5000}, {"published": "8081", "target": 5000}]
    assert remap_published(["8080:5000"], {}) == ["8080:5000"]
    doc = read_compose(SAMPLE / "phase2" / "docker-compose.yml")
    out = prepare_compose(doc, {}, LABELS, moved)
    assert out["services"]["web"]["ports"] == ["20123:5000"] and doc["services"]["web"]["ports"] == ["8080:5000"]


def test_lab_names_for_a_student_and_for_an_instance() -> None:
    from pytest_orchlab.core.names import LabNames, valid_instance

    assert (LabNames().container, LabNames().host_port, LabNames().service) == ("web-app", 8080, "webapp_web")
    inst = LabNames("g3")
    assert (inst.container, inst.host_port, inst.stack, inst.service) == ("web-app-g3", None, "webapp-g3", "webapp-g3_web")
    assert valid_instance("g12") and not valid_instance("G1") and not valid_instance("a" * 21) and not valid_instance("-x")
