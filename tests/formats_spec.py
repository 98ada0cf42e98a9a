"""What each grading platform publishes about the file it reads, as checks; used by unit and real-engine tests.

Every rule cites where it was read (looked up with the search tool on 2026-11-25, not written from memory).
A check returns the list of violations: empty means the output is what the platform documents.
"""

from __future__ import annotations

import base64
import json
import math
import xml.etree.ElementTree as ET
from typing import Any

# --- Gradescope ---------------------------------------------------------------------------------------------
# https://gradescope-autograders.readthedocs.io/en/latest/specs/ "Output format" (source: gradescope/autograder_samples,
# docs/specs.md, current revision). The example's keys, verbatim:
GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                  "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
                   "visibility", "extra_data"}
# "Options for the visibility field are as follows: hidden, after_due_date, after_published, visible (default)"
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
# "you can set the "status" field to either "passed" or "failed""
GRADESCOPE_STATUS = {"passed", "failed"}
# "Output String Formatting": text, simple_format, html, md, ansi
GRADESCOPE_FORMATS = {"text", "simple_format", "html", "md", "ansi"}
# The spec's own status example (verbatim), which the checks must accept.
GRADESCOPE_STATUS_EXAMPLE = {"tests": [{"name": "Compilation check", "status": "passed"},
                                       {"name": "Style check", "status": "failed"},
                                       {"name": "Test 3", "score": 5, "max_score": 10, "status": "passed"}]}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gradescope(data: Any) -> list[str]:
    """Gradescope ``results.json``: known keys, score on top or on every test, status/visibility/format values."""
    if not isinstance(data, dict):
        return ["results.json must be a JSON object"]
    bad = [f"unknown top-level key {k!r}" for k in data if k not in GRADESCOPE_TOP]
    tests = data.get("tests", [])
    if "score" not in data and not tests:
        bad.append("needs a top-level score or tests")  # "optional, but required if not on each test case below"
    if "score" in data and not _number(data["score"]):
        bad.append("score must be a number")
    if "execution_time" in data and not _number(data["execution_time"]):
        bad.append("execution_time must be a number of seconds")
    for key in ("visibility", "stdout_visibility"):
        if key in data and data[key] not in GRADESCOPE_VISIBILITY:
            bad.append(f"{key} {data[key]!r} is not one of {sorted(GRADESCOPE_VISIBILITY)}")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in data and data[key] not in GRADESCOPE_FORMATS:
            bad.append(f"{key} {data[key]!r} is not a documented format")
    if not isinstance(tests, list):
        return [*bad, "tests must be a list"]
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        bad += [f"{where}: unknown key {k!r}" for k in test if k not in GRADESCOPE_TEST]
        if "score" not in data and "score" not in test and "status" not in test:
            bad.append(f"{where}: needs a score (no top-level score)")  # "required if not on top level submission"
        for key in ("score", "max_score"):
            if key in test and not _number(test[key]):
                bad.append(f"{where}: {key} must be a number")
        if "status" in test and test["status"] not in GRADESCOPE_STATUS:
            bad.append(f"{where}: status {test['status']!r} is not passed/failed")
        if "visibility" in test and test["visibility"] not in GRADESCOPE_VISIBILITY:
            bad.append(f"{where}: visibility {test['visibility']!r}")
        if "number" in test and not isinstance(test["number"], str):
            bad.append(f"{where}: number is a string such as \"1.1\"")
        if "tags" in test and not (isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])):
            bad.append(f"{where}: tags must be a list of strings")
        for key in ("name", "output"):
            if key in test and not isinstance(test[key], str):
                bad.append(f"{where}: {key} must be a string")
    return bad


# --- GitHub Classroom -----------------------------------------------------------------------------------------
# classroom-resources/autograding-grading-reporter, src/main.js @ b953c1a: for each id of the `runners` input,
#   const encodedResults = process.env[`${runner.trim().toUpperCase()}_RESULTS`];
#   const json = Buffer.from(encodedResults, "base64").toString("utf-8"); ... JSON.parse(json)
#   if (runnerResults.some((r) => r.results.status === "fail")) core.setFailed("Some tests failed.");
#   else if (... status === 'error') core.setFailed("Some tests errored.");
# The runners emit (autograding-io-grader dist/main.js @ 059171b):
#   {version:1,status:n,max_score:A.maxScore,tests:[{name,status,message,test_code,filename:"",line_no:0,
#    execution_time:`${...}s`,score:o}]} ... setOutput("result", base64(JSON.stringify(Q)))
CLASSROOM_STATUS = {"pass", "fail", "error"}
CLASSROOM_IO_EXAMPLE = {"version": 1, "status": "pass", "max_score": 10, "tests": [
    {"name": "shout", "status": "pass", "message": None, "test_code": "echo hi <stdin>", "filename": "", "line_no": 0,
     "execution_time": "0.012s", "score": 10}]}


def classroom(data: Any) -> list[str]:
    """The runner result the reporter decodes: status, numeric max_score, tests with name/status/score."""
    if not isinstance(data, dict):
        return ["the runner result must be a JSON object"]
    bad = []
    if data.get("status") not in CLASSROOM_STATUS:
        bad.append(f"status {data.get('status')!r} is not pass/fail/error")
    if not isinstance(data.get("tests"), list):
        return [*bad, "tests must be a list (the reporter calls results.tests.forEach)"]
    if "max_score" in data and not _number(data["max_score"]):
        bad.append("max_score must be a number")
    for i, test in enumerate(data["tests"]):
        if not isinstance(test.get("name"), str):
            bad.append(f"tests[{i}]: name must be a string")
        if test.get("status") not in CLASSROOM_STATUS:
            bad.append(f"tests[{i}]: status {test.get('status')!r} is not pass/fail/error")
        # notify-classroom.js sums `score` of every test; a missing one makes the total NaN.
        if data.get("max_score") and not _number(test.get("score")):
            bad.append(f"tests[{i}]: score must be a number when max_score is set")
        if test.get("message") is not None and not isinstance(test["message"], str):
            bad.append(f"tests[{i}]: message must be a string or null")
        if "line_no" in test and not _number(test["line_no"]):
            bad.append(f"tests[{i}]: line_no must be a number")
    if _number(data.get("max_score")) and not bad and sum(t["score"] for t in data["tests"]) > data["max_score"]:
        bad.append("the tests' scores add up to more than max_score (the reporter does not clamp)")
    return bad


def classroom_points(env: dict[str, str], runners: str) -> tuple[float, float, bool]:
    """The reporter's arithmetic (src/notify-classroom.js @ 1549b90) and its failing rule: (points, max, step failed).

    ``totalPoints`` sums ``tests[].score`` of every runner whose ``max_score`` is truthy; ``maxPoints`` sums those
    ``max_score`` values; the step fails when a runner's status is ``fail`` or ``error``.
    """
    total = maximum = 0.0
    failed = False
    for runner in filter(None, runners.split(",")):
        results = json.loads(base64.b64decode(env[f"{runner.strip().upper()}_RESULTS"]).decode("utf-8"))
        failed = failed or results["status"] in ("fail", "error")
        if not results.get("max_score"):
            continue
        maximum += results["max_score"]
        total += sum(test["score"] for test in results["tests"])
    return total, maximum, failed


# --- PrairieLearn ---------------------------------------------------------------------------------------------
# https://prairielearn.readthedocs.io/en/latest/externalGrading/ "Grading results" (PrairieLearn/PrairieLearn,
# docs/externalGrading.md @ 06a6d59): "If the submission is gradable, the result only has one mandatory field:
# `score`, ... a floating-point number in the range [0.0, 1.0]" ... "If the submission is not gradable, the field
# `gradable` is required, and must be set to `false`." ... "this file should be limited to 1 MB". The example, verbatim
# (the image data shortened as the page shortens it):
PRAIRIELEARN_EXAMPLE = {
    "gradable": True, "score": 0.25, "message": "Tests completed successfully.",
    "output": "Running tests...\nTest 1 passed\nTest 2 failed!\n...",
    "images": [{"label": "First Image", "url": "data:image/png;base64,..."},
               {"label": "Second Image", "url": "data:image/jpeg;base64,..."}],
    "tests": [
        {"name": "Test 1", "description": "Tests that a thing does a thing.", "points": 1, "max_points": 1,
         "message": "No errors!", "output": "Running test...\nYour output matched the expected output!"},
        {"name": "Test 2", "description": "Like Test 1, but harder, you'll probably fail it.", "points": 0, "max_points": 3,
         "message": "Make sure that your code is doing the thing correctly.",
         "output": "Running test...\nYour output did not match the expected output.",
         "images": [{"label": "First Image", "url": "data:image/gif;base64,..."},
                    {"label": "First Image", "url": "data:image/png;base64,..."}]},
    ],
}


def prairielearn(data: Any, size: int = 0) -> list[str]:
    """PrairieLearn ``results.json``: score in [0, 1] when gradable, ``gradable: false`` otherwise, typed tests."""
    if not isinstance(data, dict):
        return ["results.json must be a JSON object"]
    bad = []
    if size > 1_000_000:
        bad.append("results.json is over 1 MB")
    if "gradable" in data and not isinstance(data["gradable"], bool):
        bad.append("gradable must be true or false")
    if data.get("gradable", True):
        if not _number(data.get("score")) or not 0.0 <= data["score"] <= 1.0:
            bad.append(f"a gradable result needs score in [0.0, 1.0], got {data.get('score')!r}")
    for key in ("message", "output"):
        if key in data and not isinstance(data[key], str):
            bad.append(f"{key} must be a string")
    for i, test in enumerate(data.get("tests", [])):
        if not isinstance(test.get("name"), str):
            bad.append(f"tests[{i}]: name must be a string")
        for key in ("description", "message", "output"):
            if key in test and not isinstance(test[key], str):
                bad.append(f"tests[{i}]: {key} must be a string")
        # pl-external-grader-results.py hides every test's points when one test lacks points or max_points.
        if not (_number(test.get("points")) and _number(test.get("max_points"))):
            bad.append(f"tests[{i}]: points and max_points must both be numbers")
    return bad


# --- JUnit XML (pytest --junitxml) ----------------------------------------------------------------------------
# pytest docs, how-to/output.rst "record_property": a property appears in the testcase as
#   <testcase classname=... name=... time=...><properties><property name="example_key" value="1" /></properties>
# src/_pytest/junitxml.py @ 03fd05a finalizes a testcase with the teardown report's user_properties. The schema pytest
# names (jenkinsci xunit-plugin junit-10.xsd, pytest testing/example_scripts/junit-10.xsd @ 81ae293) requires
# testsuite@name/tests/failures/errors and testcase@name, and allows <properties> only under <testsuite>: per-testcase
# properties are pytest's documented extension ("will break schema verifications"), so they are checked by structure.
JUNIT_SUITE_REQUIRED = ("name", "tests", "failures", "errors")


def junit(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Violations of the documented structure, and each testcase's properties by ``orchlab_id``."""
    bad: list[str] = []
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return [f"not XML: {exc}"], {}
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuites", "testsuite") or not suites:
        return [f"root element {root.tag!r} holds no testsuite"], {}
    cases: dict[str, dict[str, str]] = {}
    for suite in suites:
        bad += [f"testsuite lacks {a}" for a in JUNIT_SUITE_REQUIRED if a not in suite.attrib]
        for case in suite.iter("testcase"):
            if "name" not in case.attrib:
                bad.append("a testcase lacks its name")
            props = case.find("properties")
            if props is None:
                continue
            if list(case)[0] is not props:
                bad.append(f"{case.get('name')}: <properties> is not the testcase's first child")
            pairs = {}
            for prop in props:
                if prop.tag != "property" or set(prop.attrib) != {"name", "value"}:
                    bad.append(f"{case.get('name')}: {prop.tag} {prop.attrib} is not <property name= value=/>")
                pairs[prop.get("name", "")] = prop.get("value", "")
            if "orchlab_id" in pairs:
                cases[pairs["orchlab_id"]] = pairs
    return bad, cases
