"""The class at a glance: ``class.csv`` (one row per student), ``class.md`` (pass rates, frequent hints), ``class.png``.

Pure functions of the students' reports; only the chart needs matplotlib (``pip install pytest-orchlab[grade]``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_orchlab.core.text import md_text

OUTCOMES = ("passed", "failed", "not-gradable", "blocked")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula (OWASP, CSV injection)


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading ``= + - @``, tab or CR gets a ``'`` first, as OWASP advises."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class Row:
    """One student as the class files show them."""

    student: str
    status: str  # graded | resumed | crashed, or failed | not-gradable (the intake found no lab, or two)
    report: dict[str, Any] | None
    reason: str = ""

    def outcomes(self) -> dict[str, str]:
        return {cp["id"]: cp["outcome"] for cp in (self.report or {}).get("checkpoints", [])}


def checkpoint_ids(rows: Sequence[Row]) -> list[str]:
    """Every checkpoint seen in any report, in the lab's order (the order the reports list them)."""
    seen: dict[str, None] = {}
    for row in rows:
        for cid in row.outcomes():
            seen.setdefault(cid, None)
    return list(seen)


def class_csv(rows: Sequence[Row]) -> str:
    """student, status, score, max, then one column per checkpoint with its outcome ("" when it did not run)."""
    ids = checkpoint_ids(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in ["student", "status", "score", "max", *ids]])
    for row in rows:
        score = (row.report or {}).get("score", {})
        got = row.outcomes()
        earned = score.get("earned", "")
        writer.writerow([csv_cell(c) for c in [row.student, row.status, f"{earned:g}" if isinstance(earned, (int, float)) else earned,
                                               score.get("possible", ""), *(got.get(cid, "") for cid in ids)]])
    return out.getvalue()


def pass_rates(rows: Sequence[Row]) -> dict[str, dict[str, int]]:
    """Per checkpoint: how many students got each outcome."""
    rates: dict[str, dict[str, int]] = {cid: dict.fromkeys(OUTCOMES, 0) for cid in checkpoint_ids(rows)}
    for row in rows:
        for cid, outcome in row.outcomes().items():
            rates[cid][outcome] = rates[cid].get(outcome, 0) + 1
    return rates


def frequent_hints(rows: Sequence[Row], top: int = 5) -> list[tuple[str, str, int]]:
    """The failure hints most students got: (checkpoint, hint, students)."""
    seen: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for cp in (row.report or {}).get("checkpoints", []):
            if cp["outcome"] == "failed" and cp.get("hint"):
                seen[(cp["id"], cp["hint"])] += 1
    return [(cid, hint, n) for (cid, hint), n in seen.most_common(top)]


def class_md(rows: Sequence[Row], title: str = "orchlab: class results") -> str:
    graded = [r for r in rows if r.report is not None]
    scores = [float(r.report["score"]["earned"]) for r in graded if r.report is not None]
    possible = max((int(r.report["score"]["possible"]) for r in graded if r.report is not None), default=0)
    lines = [f"# {title}", "",
             f"{len(rows)} students, {len(graded)} with a report, {sum(r.status == 'crashed' for r in rows)} crashed. "
             + (f"Mean score {sum(scores) / len(scores):.1f}/{possible}." if scores else ""), "",
             "| checkpoint | passed | failed | not gradable | blocked | pass rate |", "|---|---|---|---|---|---|"]
    for cid, counts in pass_rates(rows).items():
        ran = sum(counts.values())
        lines.append(f"| `{cid}` | {counts['passed']} | {counts['failed']} | {counts['not-gradable']} | {counts['blocked']} "
                     f"| {100 * counts['passed'] / ran:.0f} % |" if ran else f"| `{cid}` | 0 | 0 | 0 | 0 | – |")
    hints = frequent_hints(rows)
    if hints:
        lines += ["", "## Most frequent failure hints", ""]
        lines += [f"- `{cid}` ({n} student{'s' if n > 1 else ''}): {md_text(hint)}" for cid, hint, n in hints]
    unrun = [r for r in rows if r.status in ("failed", "not-gradable") and r.report is None]
    if unrun:
        lines += ["", "## Submissions not graded (see intake.csv)", ""]
        lines += [f"- {md_text(r.student)}: {'no lab found' if r.status == 'failed' else 'not gradable'}: {md_text(r.reason)}" for r in unrun]
    crashed = [r for r in rows if r.status == "crashed"]
    if crashed:
        lines += ["", "## Runs that crashed (graded again on the next `orchlab grade`)", ""]
        lines += [f"- {md_text(r.student)}: {md_text(r.reason)}" for r in crashed]
    return "\n".join(lines) + "\n"


def class_png(rows: Sequence[Row], path: Path) -> None:
    """Pass rate per checkpoint (which step the class struggles with) beside a histogram of scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = pass_rates(rows)
    ids = list(rates)
    share = [100 * c["passed"] / max(1, sum(c.values())) for c in rates.values()]
    scores = [float(r.report["score"]["earned"]) for r in rows if r.report is not None]
    possible = max((int(r.report["score"]["possible"]) for r in rows if r.report is not None), default=1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.32 * len(ids) + 1.5)), gridspec_kw={"width_ratios": [3, 2]})
    colors = ["#2e7d32" if s >= 80 else "#f9a825" if s >= 50 else "#c62828" for s in share]
    left.barh(ids[::-1], share[::-1], color=colors[::-1])
    left.set_xlim(0, 100)
    left.set_xlabel("students who passed (%)")
    left.set_title("Pass rate per checkpoint")
    for y, value in enumerate(share[::-1]):
        left.text(min(value + 1, 92), y, f"{value:.0f}%", va="center", fontsize=8)
    right.hist(scores, bins=range(0, possible + 2), align="left", color="#1565c0", rwidth=0.85)
    right.set_xlabel(f"score (of {possible})")
    right.set_ylabel("students")
    right.set_title(f"Scores ({len(scores)} students)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
