"""The class files from students' reports: CSV rows equal the reports, pass rates, frequent hints, roster parsing."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.grading import roster, summary


def report(*outcomes: str, hint: str = "fix app.py") -> dict[str, Any]:
    cps = [{"id": f"p1-{n}", "outcome": o, "points": 1, "earned": 1.0 if o == "passed" else 0, "hint": hint if o == "failed" else None}
           for n, o in enumerate(outcomes)]
    return {"score": {"earned": sum(cp["earned"] for cp in cps), "possible": len(cps)}, "checkpoints": cps}


ROWS = [summary.Row("ann", "graded", report("passed", "passed", "passed")),
        summary.Row("bo", "graded", report("passed", "failed", "blocked")),
        summary.Row("cy", "resumed", report("failed", "blocked", "blocked", hint="fix the Dockerfile")),
        summary.Row("di", "crashed", None, "pytest exited -9 and wrote no report")]


def test_csv_has_one_column_per_checkpoint_with_each_reports_outcome() -> None:
    rows = list(csv.DictReader(io.StringIO(summary.class_csv(ROWS))))
    assert [r["student"] for r in rows] == ["ann", "bo", "cy", "di"]
    assert rows[1] == {"student": "bo", "status": "graded", "score": "1", "max": "3", "p1-0": "passed", "p1-1": "failed", "p1-2": "blocked"}
    assert rows[3]["status"] == "crashed" and rows[3]["p1-0"] == "" and rows[3]["score"] == ""


def test_markdown_gives_pass_rates_frequent_hints_and_crashes() -> None:
    md = summary.class_md(ROWS)
    assert "| `p1-0` | 2 | 1 | 0 | 0 | 67 % |" in md and "| `p1-2` | 1 | 0 | 0 | 2 | 33 % |" in md
    assert "- `p1-1` (1 student): fix app.py" in md and "- di: pytest exited -9" in md
    assert "4 students, 3 with a report, 1 crashed. Mean score 1.3/3." in md


def test_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the chart needs pytest-orchlab[grade]")
    summary.class_png(ROWS, tmp_path / "class.png")
    assert (tmp_path / "class.png").read_bytes()[:4] == b"\x89PNG"


def test_class_folder_and_roster(tmp_path: Path) -> None:
    for name in ("kim", "lee", ".git"):
        (tmp_path / "class" / name).mkdir(parents=True)
    assert [s.id for s in roster.from_class_dir(tmp_path / "class")] == ["kim", "lee"]
    (tmp_path / "roster.csv").write_text("student,lab_dir\nkim min-ji,class/kim\nlee,/abs/lee\n")
    got = roster.from_roster(tmp_path / "roster.csv")
    assert [(s.id, s.slug, s.lab_dir) for s in got] == [("kim min-ji", "kim_min-ji", tmp_path / "class" / "kim"), ("lee", "lee", Path("/abs/lee"))]
    (tmp_path / "bad.csv").write_text("student,lab_dir\nkim,\nkim,a\nkim,b\n")
    with pytest.raises(OrchlabError, match="line 2"):
        roster.from_roster(tmp_path / "bad.csv")
    with pytest.raises(OrchlabError, match="holds no student folders"):
        roster.from_class_dir(tmp_path / "class" / "kim")


def test_ids_that_collide_as_folders_get_folders_of_their_own(tmp_path: Path) -> None:
    for sid in ("Kim Lee", "Kim_Lee", "Bob", "bob", "ann"):
        (tmp_path / "class" / sid).mkdir(parents=True)
    slugs = {s.id: s.slug for s in roster.from_class_dir(tmp_path / "class")}
    assert slugs["Kim_Lee"] == "Kim_Lee" and slugs["Kim Lee"].startswith("Kim_Lee-") and slugs["ann"] == "ann"
    assert slugs["Bob"] == "Bob" and slugs["bob"].startswith("bob-")  # one folder each on a case-insensitive disk too
    assert len({s.lower() for s in slugs.values()}) == 5
    assert slugs["Kim Lee"] in roster.folder_names("Kim Lee")


def test_cells_a_spreadsheet_would_run_are_escaped_and_markdown_too() -> None:
    rows = [summary.Row('=HYPERLINK("http://x","y")', "graded", report("passed")), summary.Row("@SUM(1)", "crashed", None, "| <b>x</b>")]
    cells = list(csv.reader(io.StringIO(summary.class_csv(rows))))
    assert cells[1][0] == "'=HYPERLINK(\"http://x\",\"y\")" and cells[2][0] == "'@SUM(1)"
    md = summary.class_md(rows)
    assert "- @SUM\\(1\\): \\| \\<b\\>x\\</b\\>" in md


def test_a_students_run_gets_no_signing_key_and_no_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_orchlab.grading.runner import student_env

    monkeypatch.setenv("ORCHLAB_SIGNING_KEY", "secret")
    monkeypatch.setenv("KUBECONFIG", "/root/.kube/prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("ORCHLAB_BASE_IMAGE", "orchlab/python-base:bookworm")
    env = student_env("tcp://10.0.0.9:2375", "g3")
    assert "ORCHLAB_SIGNING_KEY" not in env and "KUBECONFIG" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["ORCHLAB_BASE_IMAGE"] == "orchlab/python-base:bookworm" and env["DOCKER_HOST"] == "tcp://10.0.0.9:2375"
    assert env["ORCHLAB_INSTANCE"] == "g3" and "PATH" in env


def test_a_scheduled_run_splits_the_selection_at_phase1() -> None:
    from pytest_orchlab.grading.runner import split_selection, stage_selections

    assert split_selection(["-m", "phase1 or phase2", "-k", "x", "--lab-lang", "en"]) == (["-k", "x", "--lab-lang", "en"], "phase1 or phase2")
    assert split_selection(["--markexpr=phase2"]) == ([], "phase2") and split_selection(["-mphase3"]) == ([], "phase3")
    assert stage_selections("phase1 or phase2") == ("(phase1 or phase2) and phase1", "(phase1 or phase2) and not phase1")
    assert stage_selections(None) == ("phase1", "not phase1")

