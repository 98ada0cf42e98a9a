"""The plugin as pytest sees it: options, markers, usage errors, no-daemon results (pytester runs)."""

from __future__ import annotations

import pytest

from tests.helpers import CHECKPOINTS


def test_markers_are_registered_with_their_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.phase1: lab Phase 1 (single container) checkpoints",
        "@pytest.mark.checkpoint(id, *, points=1, requires=(), phase=None, title=None):*",
    ])


def test_options_are_documented_with_their_sources(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*pytest-orchlab*Precedence*", "*--lab-dir=LAB_DIR*", "*--base-image=BASE_IMAGE*"])


def test_bad_language_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(CHECKPOINTS), "--lab-lang", "fr")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lab-lang must be one of ko, en, not 'fr'*"])


def test_bad_language_from_environment_names_its_source(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_LANG", "de")
    result = pytester.runpytest_subprocess(str(CHECKPOINTS))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*(from environment ORCHLAB_LANG)*"])


def test_no_daemon_is_not_gradable_without_traceback(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-such.sock")
    report = pytester.path / "r.json"
    result = pytester.runpytest_subprocess(
        str(CHECKPOINTS / "test_phase1.py"), "--lab-lang", "en", "--lab-report", str(report), "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*No Docker engine answers at unix://*: the socket file does not exist (dockerd not running?)",
        "*Fix: run `orchlab engine`*",
        "*blocked: p1-image-builds did not pass (not gradable)",
        "*1 not gradable, 7 blocked*",
    ])
    assert "Traceback" not in result.stdout.str()
    import json

    data = json.loads(report.read_text())
    first = data["checkpoints"][0]
    assert (first["id"], first["outcome"]) == ("p1-image-builds", "not-gradable")
    assert {c["outcome"] for c in data["checkpoints"][1:]} == {"blocked"}


def test_korean_is_the_default_language(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-such.sock")
    monkeypatch.delenv("ORCHLAB_LANG", raising=False)
    result = pytester.runpytest_subprocess(str(CHECKPOINTS / "test_phase1.py"), "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*실습 체크리스트*", "*채점 불가*Docker 엔진*응답하지 않습니다*"])


# --- grading integrity: no verdict, no pass; custom checkpoints; points only for the student's work --------

COURSE = '''
import pytest
from pytest_orchlab import Verdict
from pytest_orchlab.core.text import t


@pytest.mark.checkpoint("c-measured", points=2, title="A course step that measures")
def test_measured(orchlab_grade):
    orchlab_grade(Verdict(True, t("측정함 42", "measured 42"), {"value": 42}))


@pytest.mark.checkpoint("c-no-verdict", points=1)
def test_no_verdict():
    """A step that forgot to grade."""


@pytest.mark.checkpoint("c-plain-assert", points=1)
def test_plain_assert():
    seen = 3
    assert seen == 5, "expected 5 replicas"
'''


def _course_run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, object]]:
    pytester.makepyfile(test_course=COURSE)
    report = pytester.path / "r.json"
    result = pytester.runpytest_subprocess("test_course.py", "--lab-dir", str(pytester.path), "--lab-lang", "en", "--lab-report", str(report),
                                           "-p", "no:cacheprovider", "-p", "no:randomly", *args)
    import json

    return result, json.loads(report.read_text())


def test_no_verdict_is_not_a_pass_and_assert_is_a_failure(pytester: pytest.Pytester) -> None:
    result, report = _course_run(pytester)
    got = {c["id"]: c for c in report["checkpoints"]}  # type: ignore[union-attr]
    assert got["c-measured"]["outcome"] == "passed" and got["c-measured"]["evidence"] == {"value": 42}
    assert got["c-no-verdict"]["outcome"] == "not-gradable"
    assert "recorded no measurement" in got["c-no-verdict"]["message"]
    assert got["c-plain-assert"]["outcome"] == "failed" and "expected 5 replicas" in got["c-plain-assert"]["message"]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 failed, 1 passed*1 not gradable*"])


def test_custom_checkpoint_ids_reach_summary_report_and_points(pytester: pytest.Pytester) -> None:
    result, report = _course_run(pytester)
    result.stdout.fnmatch_lines([
        "Course checkpoints",
        "  ✅ A course step that measures  [c-measured, *",
        "      passed: measured 42",
        "  ⚠️  A step that forgot to grade.  [c-no-verdict, *",
        "  ❌ c-plain-assert  [c-plain-assert, *",
        "Score: 2/4",
    ])
    assert report["score"] == {"earned": 2, "possible": 4}
    assert {c["phase"] for c in report["checkpoints"]} == {0}  # type: ignore[union-attr]


UNOBSERVED = '''
import pytest
from pytest_orchlab.measure.clock import NS
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.swarm import verdicts
from pytest_orchlab.swarm.cluster import SwarmView
from pytest_orchlab.swarm.rollout import Rollout


@pytest.mark.checkpoint("p2-swarm-active", points=1)
def test_swarm_active(orchlab_grade):
    me = {"id": "abc", "hostname": "lab", "role": "manager", "availability": "active", "state": "ready", "leader": True}
    orchlab_grade(verdicts.swarm_active(SwarmView("active", True, "abcdef", [me], initialized_by_run=True)))


@pytest.mark.checkpoint("p2-rolling-update", points=3)
def test_rolling_update(orchlab_grade):
    # The engine says completed, but the event stream yielded nothing: no replacement was observed.
    roll = Rollout("update", "v2", 0.0, ended=130.0, state="completed", replicas=5, configured={"Parallelism": 1, "Delay": 10 * NS})
    roll.samples = [Reply(t, 0.01, status=200) for t in range(130)]
    roll.after = [Reply(131.0, 0.01, status=200, greeting="Greetings", answered_by="x") for _ in range(20)]
    roll.tasks_after = [{"image": "v2"}] * 5
    orchlab_grade(verdicts.rolling_update(roll, parallelism=1))
'''


def test_empty_event_stream_is_not_gradable_and_orchlabs_own_swarm_init_scores_zero(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_swarm=UNOBSERVED)
    report_path = pytester.path / "r.json"
    result = pytester.runpytest_subprocess("test_swarm.py", "--lab-dir", str(pytester.path), "--lab-lang", "en", "--lab-report", str(report_path),
                                           "-p", "no:cacheprovider", "-p", "no:randomly")
    import json

    got = {c["id"]: c for c in json.loads(report_path.read_text())["checkpoints"]}
    assert got["p2-swarm-active"]["outcome"] == "passed" and got["p2-swarm-active"]["earned"] == 0
    assert got["p2-rolling-update"]["outcome"] == "not-gradable"
    assert "only 0 of 5 task replacements were observed" in got["p2-rolling-update"]["message"]
    result.stdout.fnmatch_lines(["*orchlab ran docker swarm init itself: not the student's work, so 0 points",
                                 "*points: 0 of 1 (orchlab performed this step itself)", "Score: 0/4"])


def test_the_lab_keeps_its_order_under_pytest_randomly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_order='''
import pytest
from pytest_orchlab import Verdict
from pytest_orchlab.core.text import t
ORDER = []

@pytest.mark.checkpoint("c-third", requires=["c-second"])
def test_c(orchlab_grade):
    ORDER.append("c-third"); orchlab_grade(Verdict(ORDER == ["c-first", "c-second", "c-third"], t(str(ORDER), str(ORDER))))

@pytest.mark.checkpoint("c-first")
def test_a(orchlab_grade):
    ORDER.append("c-first"); orchlab_grade(Verdict(True, t("1", "1")))

@pytest.mark.checkpoint("c-second", requires=["c-first"])
def test_b(orchlab_grade):
    ORDER.append("c-second"); orchlab_grade(Verdict(True, t("2", "2")))
''')
    for seed in (1, 2, 3):
        result = pytester.runpytest_subprocess("test_order.py", "--lab-dir", str(pytester.path), "-p", "randomly", "-p", "no:cacheprovider",
                                               f"--randomly-seed={seed}")
        result.assert_outcomes(passed=3)


def test_pytest_xdist_is_refused_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--lab-dir", str(pytester.path), "-n", "2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-orchlab runs the lab in one process*without -n/--dist*"])


def test_an_unrelated_project_is_untouched(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed but unused: no fixtures, Ryuk setting and SIGTERM handler as without the plugin, bad settings ignored."""
    monkeypatch.setenv("ORCHLAB_LANG", "fr")
    pytester.makepyfile(test_theirs='''
import json, signal, sys
import pytest
from testcontainers.core.config import testcontainers_config

def test_untouched(request):
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("orchlab_grade")
    handler = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or e.g. coverage's own handler when run under coverage
    name = getattr(handler, "__module__", "") + "." + getattr(handler, "__qualname__", repr(handler))
    seen = {"ryuk_disabled": testcontainers_config.ryuk_disabled, "sigterm": name}
    open("seen-" + str(request.config.pluginmanager.has_plugin("orchlab")) + ".json", "w").write(json.dumps(seen))
''')
    with_plugin = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    with_plugin.assert_outcomes(passed=1)
    without = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:orchlab")
    without.assert_outcomes(passed=1)
    import json

    seen_with = json.loads((pytester.path / "seen-True.json").read_text())
    assert seen_with == json.loads((pytester.path / "seen-False.json").read_text())
    assert seen_with["ryuk_disabled"] is False
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    assert fixtures.ret == pytest.ExitCode.OK and "orchlab_" not in fixtures.stdout.str()


def test_no_cluster_at_all_is_not_gradable_with_the_fix(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(pytester.path / "no-such-kubeconfig"))
    monkeypatch.setenv("XDG_STATE_HOME", str(pytester.path / "state"))  # no orchlab cluster either
    report = pytester.path / "r.json"
    result = pytester.runpytest_subprocess(str(CHECKPOINTS / "test_phase3.py"), "--lab-dir", str(pytester.path), "--lab-lang", "en",
                                           "--lab-report", str(report), "-p", "no:cacheprovider", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*not gradable: No Kubernetes cluster answers*",
                                 "*Fix: start a cluster with minikube start (the lab's way) or `orchlab cluster up`*",
                                 "*1 not gradable, 7 blocked*"])
    assert "Traceback" not in result.stdout.str()


# --- grader formats from a real pytest run (tests/formats_spec.py cites each platform's published format) ----

BLOCKED = '''

@pytest.mark.checkpoint("c-after-assert", points=2, requires=("c-plain-assert",))
def test_after_assert(orchlab_grade):
    orchlab_grade(Verdict(True, t("x", "x")))
'''


def test_every_format_from_one_run_is_what_its_platform_reads(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests import formats_spec as spec

    monkeypatch.setenv("GITHUB_OUTPUT", str(pytester.path / "gh_output"))
    pytester.makepyfile(test_course=COURSE + BLOCKED)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "test_course.py", "--lab-dir", str(pytester.path), "--lab-lang", "en", "-p", "no:cacheprovider", "-p", "no:randomly",
        *(a for f in ("gradescope", "classroom", "prairielearn", "junit", "markdown") for a in ("--lab-format", f"{f}:{out}/{f}.out")))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    gradescope = json.loads((out / "gradescope.out").read_text())
    assert spec.gradescope(gradescope) == [] and gradescope["score"] == 2.0
    classroom = json.loads((out / "classroom.out").read_text())
    assert spec.classroom(classroom) == [] and classroom["status"] == "error"
    env = {"ORCHLAB_RESULTS": (pytester.path / "gh_output").read_text().strip().removeprefix("result=")}
    assert spec.classroom_points(env, "orchlab") == (2.0, 6, True)
    prairie = json.loads((out / "prairielearn.out").read_text())
    assert spec.prairielearn(prairie) == [] and prairie["gradable"] is False  # c-no-verdict is not gradable
    bad, cases = spec.junit((out / "junit.out").read_text())
    assert bad == []
    # Not gradable and blocked stay apart from failed and skipped in the JUnit file.
    assert {k: v["orchlab_outcome"] for k, v in cases.items()} == {
        "c-measured": "passed", "c-no-verdict": "not-gradable", "c-plain-assert": "failed", "c-after-assert": "blocked"}
    assert cases["c-measured"]["orchlab_earned"] == "2" and cases["c-after-assert"]["orchlab_points"] == "2"
    assert "expected 5 replicas" in cases["c-plain-assert"]["orchlab_message"]
    markdown = (out / "markdown.out").read_text()
    assert markdown.startswith("### orchlab: 2/6 points") and markdown.count("\n| ") == 5  # the header and four checkpoints


def test_multinode_checkpoints_run_only_with_swarm_nodes_or_when_asked_for(pytester: pytest.Pytester) -> None:
    from tests.helpers import SAMPLE

    default = pytester.runpytest_subprocess(str(CHECKPOINTS), "--lab-dir", str(SAMPLE), "--co", "-q", "-p", "no:cacheprovider")
    assert default.ret == pytest.ExitCode.OK
    default.stdout.fnmatch_lines(["*(4 deselected)*"])
    assert "test_phase2x" not in default.stdout.str()
    asked = pytester.runpytest_subprocess(str(CHECKPOINTS), "--lab-dir", str(SAMPLE), "--co", "-q", "-m", "phase2x", "-p", "no:cacheprovider")
    asked.stdout.fnmatch_lines(["*test_phase2x.py::test_spread", "*test_phase2x.py::test_node_loss", "4/* tests collected*"])
    with_nodes = pytester.runpytest_subprocess(str(CHECKPOINTS), "--lab-dir", str(SAMPLE), "--co", "-q", "--swarm-nodes", "3",
                                               "-p", "no:cacheprovider")
    assert "deselected" not in with_nodes.stdout.str() and "test_phase2x.py::test_drain" in with_nodes.stdout.str()


def test_bad_swarm_nodes_and_release_are_usage_errors(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = pytester.runpytest_subprocess(str(CHECKPOINTS), "--swarm-nodes", "9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--swarm-nodes must be a number of nodes from 1 to 5, not '9'*"])
    monkeypatch.setenv("ORCHLAB_SWARM_RELEASE", "19.03")
    result = pytester.runpytest_subprocess(str(CHECKPOINTS))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--swarm-release: unknown Docker release '19.03'*(from environment ORCHLAB_SWARM_RELEASE)*"])


COURSE_FILE = '''
import pytest
from pytest_orchlab import Verdict
from pytest_orchlab.core.text import t


@pytest.mark.checkpoint("course-extra", points=2)
def test_course_extra(orchlab_grade):
    orchlab_grade(Verdict(True, t("ok", "ok")))
'''


def test_a_checkpoint_collected_while_the_lab_is_off_stops_the_run(pytester: pytest.Pytester) -> None:
    # Without the lab a course's checkpoint would pass or fail as a plain test: no verdict, no report, silently.
    pytester.makepyfile(test_course=COURSE_FILE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_course.py::test_course_extra is a lab checkpoint (@pytest.mark.checkpoint), but the lab is off*"
                                 "give --lab-dir PATH*"])


def test_a_lab_report_switches_the_lab_on(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_course=COURSE_FILE)
    report = pytester.path / "r.json"
    monkeypatch.setenv("ORCHLAB_LAB_DIR", str(pytester.path / "lab"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lab-report", str(report), "--lab-lang", "en")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    import json

    data = json.loads(report.read_text())
    assert [(c["id"], c["outcome"], c["earned"]) for c in data["checkpoints"]] == [("course-extra", "passed", 2)]


def test_one_level_above_the_lab_folder_finds_it_and_says_where(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from tests.helpers import SAMPLE

    shutil.copytree(SAMPLE / "phase1", pytester.path / "orchestration-lab" / "phase1")
    (pytester.path / "notes").mkdir()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-such.sock")
    result = pytester.runpytest_subprocess("-m", "phase1", "--lab-lang", "en", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*lab folder: */orchestration-lab (the one lab folder in the current folder (orchestration-lab/))"])
