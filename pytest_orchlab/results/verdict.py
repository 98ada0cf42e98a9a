"""A checkpoint's verdict: the one value every phase's judging functions return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_orchlab.core.text import Text


@dataclass(frozen=True)
class Verdict:
    """Passed or not, what was seen, the evidence, and a hint when failed.

    ``gradable=False``: what the judgement needs was not observed in full (an event stream that
    broke, a sequence seen only in part); ``hint`` then says how to fix the environment, and the
    checkpoint is reported not gradable, never passed. ``credit`` is the share of the checkpoint's
    points the student's own work earned: 0 when orchlab performed the step itself.
    """

    passed: bool
    seen: Text
    evidence: dict[str, Any] = field(default_factory=dict)
    hint: Text | None = None
    gradable: bool = True
    credit: float = 1.0

    @classmethod
    def unobserved(cls, seen: Text, fix: Text, evidence: dict[str, Any] | None = None) -> Verdict:
        """Not gradable: the measurement this verdict needs is missing or incomplete."""
        return cls(False, seen, dict(evidence or {}), fix, gradable=False)
