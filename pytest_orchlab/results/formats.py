"""One student's results in the formats graders read: Gradescope, GitHub Classroom, PrairieLearn, Markdown.

Pure functions of the JSON report (``Report.to_json()``), so a teacher can also convert a saved report.
JUnit XML is pytest's own ``--junitxml``; the session adds each checkpoint's properties to it.
Points follow the report: a passed checkpoint earns what the student's own work earned (0 when orchlab
performed the step), anything else 0. A not-gradable checkpoint is never shown as the student's failure.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from pytest_orchlab.core.text import md_text

FORMATS = ("gradescope", "classroom", "prairielearn", "junit", "markdown")
DEFAULT_PATHS = {
    "gradescope": "results.json",  # Gradescope reads /autograder/results/results.json
    "classroom": "classroom-results.json",
    "prairielearn": "results.json",  # PrairieLearn reads /grade/results/results.json
    "junit": "orchlab-junit.xml",
    "markdown": "orchlab-summary.md",
}
MARK = {"passed": "✅", "failed": "❌", "not-gradable": "⚠️", "blocked": "⏸️"}


def parse(spec: str) -> tuple[str, str | None]:
    """``FORMAT[:PATH]`` as given to ``--lab-format``; raises ``ValueError`` with the choices."""
    name, _, path = spec.partition(":")
    name = name.strip().lower()
    if name not in FORMATS:
        raise ValueError(f"--lab-format {spec!r}: unknown format {name!r}; choose from {', '.join(FORMATS)} (FORMAT[:PATH])")
    return name, path or None


def _points(cp: dict[str, Any]) -> float:
    return float(cp.get("earned") or 0) if cp["outcome"] == "passed" else 0.0


def _text(cp: dict[str, Any]) -> str:
    """What a student reads under one checkpoint: outcome, what was measured, and the hint."""
    lines = [f"{cp['outcome']}: {cp['message']}"]
    if cp.get("hint") and cp["outcome"] in ("failed", "not-gradable"):
        lines.append(("fix the environment: " if cp["outcome"] == "not-gradable" else "hint: ") + cp["hint"])
    if cp["outcome"] == "passed" and _points(cp) < cp["points"]:
        lines.append(f"points: {_points(cp):g} of {cp['points']} (orchlab performed this step itself)")
    return "\n".join(lines)


def _name(cp: dict[str, Any]) -> str:
    return f"{cp['id']}: {cp['title']}" if cp.get("title") else str(cp["id"])


def _not_gradable(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [cp for cp in report["checkpoints"] if cp["outcome"] == "not-gradable"]


def _summary_line(report: dict[str, Any]) -> str:
    score = report["score"]
    counts: dict[str, int] = {}
    for cp in report["checkpoints"]:
        counts[cp["outcome"]] = counts.get(cp["outcome"], 0) + 1
    tally = ", ".join(f"{n} {o}" for o, n in counts.items())
    return f"orchlab run {report['run_id']}: {score['earned']:g}/{score['possible']} points ({tally})"


def gradescope(report: dict[str, Any]) -> dict[str, Any]:
    """Gradescope's autograder ``results.json``: one test per checkpoint, number = checkpoint id."""
    tests = [{
        "name": _name(cp),
        "number": cp["id"],
        "score": _points(cp),
        "max_score": float(cp["points"]),
        "status": "passed" if cp["outcome"] == "passed" else "failed",
        "output": _text(cp),
        "tags": [f"phase{cp['phase']}", cp["outcome"]],
        "visibility": "visible",
    } for cp in report["checkpoints"]]
    output = _summary_line(report)
    broken = _not_gradable(report)
    if broken:
        output += ("\nNot gradable here (an environment fault, not the student's): "
                   + ", ".join(cp["id"] for cp in broken) + ". Regrade after fixing the environment.")
    return {"score": float(report["score"]["earned"]), "output": output, "visibility": "visible",
            "stdout_visibility": "hidden", "execution_time": round(float(report["timings_s"].get("session", 0))),
            "tests": tests, "extra_data": {"orchlab_run": report["run_id"], "not_gradable": [cp["id"] for cp in broken]}}


def classroom(report: dict[str, Any]) -> dict[str, Any]:
    """What GitHub Classroom's autograding-grading-reporter decodes from a runner's ``result`` output."""
    tests = [{
        "name": _name(cp),
        "status": "pass" if cp["outcome"] == "passed" else ("error" if cp["outcome"] == "not-gradable" else "fail"),
        "message": _text(cp),
        "line_no": 0,
        "execution_time": f"{cp['seconds']:.1f}s",
        "score": _points(cp),
    } for cp in report["checkpoints"]]
    outcomes = {cp["outcome"] for cp in report["checkpoints"]}
    status = "error" if "not-gradable" in outcomes else ("pass" if outcomes <= {"passed"} else "fail")
    return {"version": 1, "status": status, "max_score": report["score"]["possible"], "tests": tests}


def classroom_output(report: dict[str, Any]) -> str:
    """The runner's ``result`` step output: the JSON above, base64-encoded, as the classroom graders emit it."""
    return base64.b64encode(json.dumps(classroom(report), ensure_ascii=False).encode()).decode()


def prairielearn(report: dict[str, Any]) -> dict[str, Any]:
    """PrairieLearn's external-grader ``results.json``; an environment fault is ``gradable: false``."""
    earned, possible = float(report["score"]["earned"]), int(report["score"]["possible"])
    broken = _not_gradable(report)
    result: dict[str, Any] = {
        "gradable": not broken,
        "score": round(earned / possible, 4) if possible else 0.0,
        "points": earned,
        "max_points": possible,
        "message": _summary_line(report),
        "tests": [{"name": _name(cp), "description": cp.get("title") or cp["id"], "points": _points(cp),
                   "max_points": cp["points"], "message": _text(cp)} for cp in report["checkpoints"]],
    }
    if broken:
        result["message"] += ("\nNot gradable here (the grading environment failed, not the submission): "
                              + "; ".join(f"{cp['id']}: {cp['message']}" for cp in broken))
    return result


def markdown(report: dict[str, Any]) -> str:
    """The checklist with numbers as a Markdown table, for ``$GITHUB_STEP_SUMMARY`` or a PR comment."""
    score = report["score"]
    lines = [f"### orchlab: {score['earned']:g}/{score['possible']} points", "",
             "| | checkpoint | points | seconds | what was measured |", "|---|---|---|---|---|"]
    for cp in report["checkpoints"]:
        said = md_text(cp["message"])
        if cp.get("hint") and cp["outcome"] in ("failed", "not-gradable"):
            said += " — " + ("fix: " if cp["outcome"] == "not-gradable" else "hint: ") + md_text(cp["hint"])
        lines.append(f"| {MARK[cp['outcome']]} | `{cp['id']}` {cp.get('title') or ''} | {_points(cp):g}/{cp['points']} "
                     f"| {cp['seconds']:.1f} | {said} |")
    compared = report.get("swarm_vs_kubernetes") or []
    if compared:
        lines += ["", "| measure | Swarm | Kubernetes |", "|---|---|---|"]
        lines += [f"| {row['measure']} | {row['swarm']} | {row['kubernetes']} |" for row in compared]
    engine = (report.get("engine") or {}).get("version")
    lines += ["", f"run `{report['run_id']}`" + (f", Docker {engine}" if engine else "") + f", {report['timings_s'].get('session', 0):.0f} s"]
    return "\n".join(lines) + "\n"


def write(name: str, path: str | None, report: dict[str, Any], env: dict[str, str]) -> str:
    """Write one format (junit excepted: pytest writes it); returns where it went."""
    if name == "markdown":
        target = Path(path or env.get("GITHUB_STEP_SUMMARY") or DEFAULT_PATHS[name])
        with target.open("a" if not path and env.get("GITHUB_STEP_SUMMARY") else "w") as out:
            out.write(markdown(report))
        return str(target)
    target = Path(path or DEFAULT_PATHS[name])
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {"gradescope": gradescope, "classroom": classroom, "prairielearn": prairielearn}[name](report)
    target.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    if name == "classroom" and env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a") as out:  # the step's `result` output, for the grading reporter
            out.write(f"result={classroom_output(report)}\n")
    return str(target)


def write_outputs(report: Any, report_path: str | None, formats: Any, env: dict[str, str], html_path: str | None = None) -> list[str]:
    """A run's files: the JSON report (signed when the course key is in ``env``) and every grader format asked for
    (junit excepted: pytest writes it). Returns a line per format written, or why it could not be."""
    from pytest_orchlab.results.signing import KEY_ENV

    key = env.get(KEY_ENV, "").encode() or None
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False, default=str))
    if report_path:
        data = report.write(Path(report_path), key)
    written = []
    if html_path:
        from pytest_orchlab.results.html import render  # imported only when a page is asked for

        target = Path(html_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(data), encoding="utf-8")
        written.append(f"html: {target}")
    for name, path in formats:
        if name == "junit":
            continue  # pytest's junitxml writes it, with the properties the session adds
        try:
            written.append(f"{name}: {write(name, path, data, env)}")
        except OSError as exc:
            written.append(f"{name}: could not write it: {exc}")
    return written
