"""A checkpoint's final word from what happened to its test: outcome, message, hint, evidence, points earned; and the
lab's order. Pure functions (no pytest, no engine): the session's hooks hand them what pytest saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pytest_orchlab.core.text import Text, t
from pytest_orchlab.results.report import HINT_WORD
from pytest_orchlab.results.verdict import Verdict

NO_VERDICT = t("이 체크포인트는 측정 결과(판정)를 기록하지 않았습니다: 증거 없이 통과시킬 수 없습니다.",
               "this checkpoint recorded no measurement (no verdict), and a pass needs evidence.")
NO_VERDICT_HINT = t("체크포인트 안에서 orchlab_grade(Verdict(...)) 로 측정값을 기록하세요.",
                    "record the measured value with orchlab_grade(Verdict(...)) inside the checkpoint.")
INTERNAL = "pytest-orchlab internal"


@dataclass(frozen=True)
class Happened:
    """What pytest saw of one phase (setup, call) of a checkpoint's test."""

    when: str
    blocked: str | None = None  # the blocking message, when setup skipped it for a required checkpoint
    raised: tuple[str, str, str | None] | None = None  # (outcome, message, hint) of the exception it raised, classified
    passed: bool = False  # pytest's own verdict on the phase


@dataclass(frozen=True)
class Decision:
    """The checkpoint's result: None as outcome means this phase says nothing (setup that went well)."""

    outcome: str | None
    message: str = ""
    hint: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    earned: float = 0.0
    longrepr: str | None = None  # what pytest should print instead of a traceback, when anything
    pytest_failed: bool = False  # a "passed" test that pytest must report as failed (no verdict)


def paragraph(outcome: str, message: str, hint: str | None, lang: str) -> str:
    """The message and its hint, as a failed checkpoint shows them in pytest's output."""
    return message + (f"\n{HINT_WORD[lang][outcome == 'not-gradable']}: {hint}" if hint else "")


def decide(happened: Happened, verdict: Verdict | None, *, lang: str, points: int, step: Text | None = None,
           unselected: Sequence[str] = ()) -> Decision:
    """Outcome, message, hint, evidence and points of a checkpoint from what happened and the verdict it recorded.

    - blocked in setup by a required checkpoint: ``blocked``;
    - an exception: its classification (``failed`` for the student's mistake, ``not-gradable`` for the environment);
    - a test that passed without recording a verdict: ``not-gradable`` (no verdict, no pass);
    - a verdict's own words replace pytest's where it has them; a failed checkpoint's hint starts with its lab step;
    - points: a passed checkpoint earns ``points`` times the verdict's credit (0 when orchlab did the step itself).
    """
    outcome: str | None = None
    message, hint, longrepr, pytest_failed = "", None, None, False
    evidence: dict[str, Any] = {}
    if happened.blocked is not None and happened.when == "setup":
        outcome, message = "blocked", happened.blocked
    elif happened.raised is not None:
        outcome, message, hint = happened.raised
        if not (outcome == "not-gradable" and message.startswith(INTERNAL)):
            longrepr = paragraph(outcome, message, hint, lang)
    elif happened.when == "call" and happened.passed:
        outcome = "passed"
        if verdict is None:
            outcome, message, hint = "not-gradable", NO_VERDICT.render(lang), NO_VERDICT_HINT.render(lang)
            longrepr, pytest_failed = paragraph(outcome, message, hint, lang), True
    if verdict is not None:
        if outcome in ("passed", "failed") or (outcome == "not-gradable" and not verdict.gradable):
            message = verdict.seen.render(lang)
        if verdict.hint and (outcome == "failed" or not verdict.gradable):
            hint = verdict.hint.render(lang)
        evidence = dict(verdict.evidence)
        if outcome in ("failed", "not-gradable"):
            longrepr = paragraph(outcome, message, hint, lang)
    if outcome is None:
        return Decision(None)
    if unselected:
        evidence["prerequisites_not_selected"] = list(unselected)
    if hint and outcome == "failed" and step is not None:
        hint = f"{step.render(lang)} — {hint}"
    credit = verdict.credit if verdict is not None and outcome == "passed" else 1.0
    earned = points * credit if outcome == "passed" else 0.0
    return Decision(outcome, message, hint, evidence, earned, longrepr, pytest_failed)


@dataclass(frozen=True)
class Placed:
    """What ordering needs of a checkpoint: its id, phase, where it is written, and what it requires."""

    id: str
    phase: int
    path: str
    line: int
    requires: tuple[str, ...] = ()


T = TypeVar("T")


def lab_order(items: Sequence[tuple[Placed, T]]) -> list[T]:
    """Checkpoints in the lab's order: by phase, file and line, then every ``requires`` before its dependant."""
    pending = sorted(items, key=lambda pair: (pair[0].phase or 99, pair[0].path, pair[0].line))
    ids = {p.id for p, _ in pending}
    placed: list[T] = []
    done: set[str] = set()
    while pending:
        ready = next((pair for pair in pending if set(pair[0].requires) & ids <= done), pending[0])
        pending.remove(ready)
        placed.append(ready[1])
        done.add(ready[0].id)
    return placed
