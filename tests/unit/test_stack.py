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
