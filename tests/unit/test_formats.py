"""Grader formats against what each platform publishes (tests/formats_spec.py cites the pages and sources).

The report goes through ``Report.write``, the same path a run takes, with every outcome a run can give:
passed, passed with 0 points (orchlab performed the step), failed, blocked and not gradable.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_orchlab.results import formats
from pytest_orchlab.results.report import Report, Result
from tests import formats_spec as spec


def report(tmp_path: Path, *, broken: bool = True) -> dict[str, Any]:
    rep = Report("20261125T101500-ab12cd", "en", "/labs/alice", engine={"id": "ABCD", "version": "20.10.24"})
    rep.results = {r.id: r for r in [
        Result("p1-image-builds", 1, "passed", "built in 3.1 s", points=1, seconds=3.1, earned=1),
        Result("p2-swarm-active", 2, "passed", "orchlab ran docker swarm init itself", points=1, seconds=0.4, earned=0),
        Result("p2-load-balanced", 2, "failed", "1 of 5 tasks answered | all of them", hint="step 4: spread", points=2, seconds=9.0),
        Result("p2-self-healing", 2, "blocked", "p2-stack-deployed did not pass", points=2),
        Result("p2-rolling-update", 2, "not-gradable" if broken else "passed", "the event stream broke: EOF",
               hint="restart the engine", points=3, seconds=130.2, earned=0 if broken else 3),
    ]}
    rep.timings = {"session": 151.3}
    return rep.write(tmp_path / "report.json")


def test_the_specs_own_examples_pass_the_checks() -> None:
    """The checks accept what the platforms publish, so a failure below is ours, not the check's."""
    assert spec.gradescope(spec.GRADESCOPE_STATUS_EXAMPLE) == []
    assert spec.classroom(spec.CLASSROOM_IO_EXAMPLE) == []
    assert spec.prairielearn(spec.PRAIRIELEARN_EXAMPLE) == []


def test_gradescope_results_follow_the_autograder_specification(tmp_path: Path) -> None:
    data = formats.gradescope(report(tmp_path))
    assert spec.gradescope(data) == []
    assert data["score"] == 1.0 and [t["number"] for t in data["tests"]][:2] == ["p1-image-builds", "p2-swarm-active"]
    by_id = {t["number"]: t for t in data["tests"]}
    assert by_id["p2-swarm-active"] == {**by_id["p2-swarm-active"], "score": 0.0, "max_score": 1.0, "status": "passed"}
    assert "orchlab performed this step itself" in by_id["p2-swarm-active"]["output"]
    assert by_id["p2-load-balanced"]["status"] == "failed" and "hint: step 4" in by_id["p2-load-balanced"]["output"]
    # An environment fault is named as such, not passed off as the student's failure.
    assert "fix the environment: restart the engine" in by_id["p2-rolling-update"]["output"]
    assert "p2-rolling-update" in data["output"] and data["extra_data"]["not_gradable"] == ["p2-rolling-update"]
    assert sum(t["score"] for t in data["tests"]) == data["score"]


def test_classroom_result_is_what_the_grading_reporter_decodes_and_adds_up(tmp_path: Path) -> None:
    data = report(tmp_path, broken=False)
    result = formats.classroom(data)
    assert spec.classroom(result) == []
    env = {"ORCHLAB_RESULTS": formats.classroom_output(data)}
    assert json.loads(base64.b64decode(env["ORCHLAB_RESULTS"])) == result
    # The reporter's own arithmetic: the student earns 1 + 0 + 3 of 9, and a failed check fails the step.
    assert spec.classroom_points(env, "orchlab") == (4.0, 9, True)
    assert {t["status"] for t in result["tests"]} == {"pass", "fail"}


def test_classroom_marks_an_environment_fault_as_an_error(tmp_path: Path) -> None:
    result = formats.classroom(report(tmp_path))
    assert spec.classroom(result) == [] and result["status"] == "error"
    assert [t["status"] for t in result["tests"]] == ["pass", "pass", "fail", "fail", "error"]


def test_classroom_output_goes_to_the_steps_result(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    where = formats.write("classroom", str(tmp_path / "c.json"), report(tmp_path), {"GITHUB_OUTPUT": str(out)})
    line = out.read_text().strip()
    assert line.startswith("result=") and json.loads(base64.b64decode(line[7:])) == json.loads(Path(where).read_text())


@pytest.mark.parametrize("broken", [False, True])
def test_prairielearn_results_follow_the_external_grader_page(tmp_path: Path, broken: bool) -> None:
    data = formats.prairielearn(report(tmp_path, broken=broken))
    text = json.dumps(data)
    assert spec.prairielearn(data, size=len(text.encode())) == []
    assert data["gradable"] is (not broken)
    assert data["max_points"] == 9 and data["points"] == (1.0 if broken else 4.0)
    assert data["score"] == round(data["points"] / 9, 4)
    if broken:
        assert "the grading environment failed" in data["message"] and "p2-rolling-update" in data["message"]


def test_markdown_is_the_checklist_with_numbers(tmp_path: Path) -> None:
    text = formats.markdown(report(tmp_path))
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`p" in line]
    assert len(rows) == 5 and text.startswith("### orchlab: 1/9 points")
    assert rows[1].startswith("| ✅ | `p2-swarm-active`") and "| 0/1 |" in rows[1]
    assert rows[2].count("|") - rows[2].count("\\|") == 6  # a | in a message is escaped, the table keeps 5 columns
    assert "⚠️" in rows[4] and "fix: restart the engine" in rows[4]


def test_markdown_is_appended_to_the_job_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary"
    summary.write_text("earlier step\n")
    formats.write("markdown", None, report(tmp_path), {"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text().startswith("earlier step\n### orchlab")


def test_junit_check_reads_the_documented_property_layout() -> None:
    """pytest's documented example (how-to/output.rst, record_property) passes the structure check."""
    text = ('<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1">'
            '<testcase classname="test_function" file="test_function.py" line="0" name="test_function" time="0.0009">'
            '<properties><property name="example_key" value="1" /></properties></testcase></testsuite></testsuites>')
    assert spec.junit(text) == ([], {})
    broken = text.replace('<property name="example_key" value="1" />', '<prop name="x" />')
    assert spec.junit(broken)[0]


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="gradescope, classroom, prairielearn, junit, markdown"):
        formats.parse("moodle:out.xml")
    assert formats.parse("junit:x/j.xml") == ("junit", "x/j.xml") and formats.parse("Markdown") == ("markdown", None)
