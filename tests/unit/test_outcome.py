"""The outcome, credit and hint decision and the lab's order, without pytest or an engine."""

from __future__ import annotations

from pytest_orchlab.core.text import t
from pytest_orchlab.results.outcome import Happened, Placed, decide, lab_order
from pytest_orchlab.results.verdict import Verdict

STEP = t("실습 2", "exercise 2")
PASSED = Verdict(True, t("통과", "measured 95 %"), {"peak": 95})
FAILED = Verdict(False, t("실패", "measured 70 %"), {"peak": 70}, t("힌트", "load harder"))


def test_a_passed_test_with_a_verdict_passes_with_its_points_and_credit() -> None:
    d = decide(Happened("call", passed=True), PASSED, lang="en", points=2)
    assert (d.outcome, d.message, d.earned, d.evidence) == ("passed", "measured 95 %", 2.0, {"peak": 95})
    half = decide(Happened("call", passed=True), Verdict(True, t("a", "b"), credit=0.0), lang="en", points=1)
    assert half.outcome == "passed" and half.earned == 0.0  # orchlab performed the step itself


def test_no_verdict_no_pass() -> None:
    d = decide(Happened("call", passed=True), None, lang="en", points=1)
    assert d.outcome == "not-gradable" and d.pytest_failed and "no verdict" in d.message and "orchlab_grade" in (d.hint or "")


def test_a_failed_verdict_keeps_its_words_and_its_hint_starts_with_the_lab_step() -> None:
    d = decide(Happened("call", raised=("failed", "pytest said so", None)), FAILED, lang="en", points=2, step=STEP)
    assert (d.outcome, d.message, d.hint, d.earned) == ("failed", "measured 70 %", "exercise 2 — load harder", 0.0)
    assert d.longrepr == "measured 70 %\nHint: load harder"  # pytest prints the verdict's hint; the report adds the step


def test_an_unobserved_verdict_is_not_gradable_with_its_fix() -> None:
    v = Verdict.unobserved(t("a", "the stream broke"), t("b", "run again"))
    d = decide(Happened("call", raised=("not-gradable", "x", None)), v, lang="en", points=1, step=STEP)
    assert (d.outcome, d.message, d.hint) == ("not-gradable", "the stream broke", "run again")
    assert d.longrepr == "the stream broke\nFix: run again"


def test_blocked_in_setup_and_an_internal_error_keeps_its_traceback() -> None:
    assert decide(Happened("setup", blocked="p1-image-builds did not pass"), None, lang="en", points=1).outcome == "blocked"
    internal = decide(Happened("call", raised=("not-gradable", "pytest-orchlab internal error KeyError: 'x'", None)), None, lang="en", points=1)
    assert internal.outcome == "not-gradable" and internal.longrepr is None
    assert decide(Happened("setup", passed=True), None, lang="en", points=1).outcome is None
    d = decide(Happened("call", passed=True), PASSED, lang="en", points=1, unselected=["p1-image-builds"])
    assert d.evidence["prerequisites_not_selected"] == ["p1-image-builds"]


def test_the_labs_order_is_phase_file_line_with_requirements_first() -> None:
    items = [(Placed("b", 1, "t1.py", 30, ("a",)), "b"), (Placed("a", 1, "t1.py", 40), "a"), (Placed("p2", 2, "t2.py", 1), "p2"),
             (Placed("c", 0, "course.py", 1), "c")]
    assert lab_order(items) == ["a", "b", "p2", "c"]


def test_an_error_a_checkpoint_raised_is_classified_as_a_student_would_need_it() -> None:
    import docker.errors
    import requests.exceptions

    from pytest_orchlab.core.errors import LabInputError, NotGradable, classified

    assert classified(NotGradable(t("엔진 없음", "no engine"), t("고침", "start it")), "en") == ("not-gradable", "no engine", "start it")
    assert classified(LabInputError(t("틀림", "replicas: 2"), t("힌트", "set 3")), "en") == ("failed", "replicas: 2", "set 3")
    # The engine's and the network's errors are the environment's, never the student's.
    engine = classified(docker.errors.APIError("500 Server Error: boom"), "en")
    assert engine[0] == "not-gradable" and "Docker engine returned an error: 500 Server Error: boom" in engine[1]
    assert classified(requests.exceptions.ConnectionError("refused"), "en")[0] == "not-gradable"
    assert classified(AssertionError(), "ko") == ("failed", "assert 가 실패했습니다", None)
    # Anything else is orchlab's own fault, said as such, not the student's.
    own = classified(KeyError("x"), "en")
    assert own[0] == "not-gradable" and "internal error KeyError" in own[1] and "please report it" in own[1]
