"""The release matrix: one row per checkpoint, one column per Docker release, and what changed since last time.

A checkpoint whose outcome differs between the releases is measured once more on every release (the recheck);
it is reported as a difference between the releases only when the recheck gives every release the same outcome
again, and otherwise as one that did not reproduce (the machine's noise, not Docker's doing).

Pure: built from the lab's JSON reports, written as Markdown, JSON and a PNG chart; no Docker, no pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "orchlab-matrix/1"
SYMBOL = {"passed": "✅", "failed": "❌", "not-gradable": "⚠️", "blocked": "⏸️", "missing": "—"}
# The figure that tells a release apart, per checkpoint: (evidence key, unit).
KEY_FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "p1-image-builds": (("seconds", "s build"),),
    "p1-container-serves": (("waited_s", "s to answer"),),
    "p1-cpu-saturation": (("peak_cpu_pct", "% CPU"),),
    "p1-latency-rises": (("loaded_p50_ms", "ms p50"),),
    "p1-requests-fail": (("failed", "failed"),),
    "p1-throughput-ceiling": (("ceiling_rps", "req/s"),),
    "p1-kill-outage": (("exit_code", "exit"),),
    "p1-manual-recovery": (("downtime_s", "s down"),),
    "p2-swarm-active": (("state", ""),),
    "p2-stack-deployed": (("converged_s", "s"),),
    "p2-policies-applied": (),
    "p2-scale-out": (("converged_s", "s"),),
    "p2-load-balanced": (("failed", "failed"),),
    "p2-self-healing": (("recovery_s", "s to recover"),),
    "p2-rolling-update": (("seconds", "s"), ("failed_requests", "failed")),
    "p2-rollback": (("seconds", "s"), ("failed_requests", "failed")),
    "p2x-spread": (("spread", "tasks/node"),),
    "p2x-drain": (("seconds", "s"), ("failed_requests", "failed")),
    "p2x-placement": (("seconds", "s"),),
    "p2x-node-loss": (("node_down_s", "s to Down"), ("seconds", "s to recover"), ("failed_requests", "failed")),
}
FIGURE_CHANGE = 0.25  # a figure that moved by more than a quarter is worth a maintainer's look


@dataclass(frozen=True)
class Cell:
    outcome: str
    figures: dict[str, Any]
    message: str = ""


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def figures_of(cid: str, evidence: Mapping[str, Any]) -> dict[str, Any]:
    return {key: evidence[key] for key, _ in KEY_FIGURES.get(cid, ()) if key in evidence}


def cell_text(cid: str, cell: Cell) -> str:
    units = dict(KEY_FIGURES.get(cid, ()))
    shown = " · ".join(f"{_num(v)} {units[k]}".strip() for k, v in cell.figures.items())
    return f"{SYMBOL.get(cell.outcome, cell.outcome)} {shown}".strip()


@dataclass
class Matrix:
    """Columns (releases, with what ran) and cells keyed by checkpoint id, then release."""

    columns: dict[str, dict[str, Any]]
    cells: dict[str, dict[str, Cell]]
    rechecked: dict[str, dict[str, str]] = field(default_factory=dict)  # checkpoint -> release -> the recheck's outcome

    @classmethod
    def from_reports(cls, reports: Mapping[str, Mapping[str, Any] | None], about: Mapping[str, Mapping[str, Any]]) -> Matrix:
        """``reports``: release -> the lab's JSON report (None when the run crashed); ``about``: release -> engine facts."""
        columns: dict[str, dict[str, Any]] = {}
        cells: dict[str, dict[str, Cell]] = {}
        for release, report in reports.items():
            col = dict(about.get(release, {}))
            if report is None:
                col["crashed"] = True
            else:
                col["score"] = report.get("score", {})
                col["seconds"] = report.get("timings_s", {}).get("session")
                for cp in report.get("checkpoints", []):
                    ev = cp.get("evidence", {}) or {}
                    cells.setdefault(cp["id"], {})[release] = Cell(cp["outcome"], figures_of(cp["id"], ev), cp.get("message", ""))
            columns[release] = col
        return cls(columns, cells)

    def ids(self) -> list[str]:
        known = [cid for cid in KEY_FIGURES if cid in self.cells]
        return known + sorted(set(self.cells) - set(known))

    def cell(self, cid: str, release: str) -> Cell:
        return self.cells.get(cid, {}).get(release, Cell("missing", {}))

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "releases": self.columns,
                "cells": {cid: {r: {"outcome": c.outcome, "figures": c.figures, "message": c.message}
                                for r, c in by.items()} for cid, by in self.cells.items()},
                "rechecked": self.rechecked}

    def with_recheck(self, again: Matrix) -> Matrix:
        """This matrix with the outcomes ``again`` measured for the checkpoints that differed between the releases."""
        rechecked = {cid: {r: again.cell(cid, r).outcome for r in self.columns} for cid in differing(self)}
        return Matrix(self.columns, self.cells, rechecked)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matrix:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not an orchlab matrix file (schema {data.get('schema')!r}, expected {SCHEMA!r})")
        cells = {cid: {r: Cell(c["outcome"], dict(c.get("figures", {})), c.get("message", "")) for r, c in by.items()}
                 for cid, by in data["cells"].items()}
        rechecked = {cid: {r: str(o) for r, o in by.items()} for cid, by in (data.get("rechecked") or {}).items()}
        return cls(dict(data["releases"]), cells, rechecked)


def _column_head(release: str, col: Mapping[str, Any]) -> str:
    version = col.get("version", "")
    return f"Docker {release}" + (f" ({version})" if version and version != release else "")


def markdown(m: Matrix, diff_lines: Sequence[str] | None = None) -> str:
    """The matrix as a Markdown table; ``diff_lines`` (from :func:`diff`) adds a section of changes."""
    releases = list(m.columns)
    out = ["# orchlab: Docker release matrix", "",
           "| checkpoint | " + " | ".join(_column_head(r, m.columns[r]) for r in releases) + " |",
           "|---|" + "---|" * len(releases)]
    for cid in m.ids():
        out.append(f"| `{cid}` | " + " | ".join(cell_text(cid, m.cell(cid, r)) for r in releases) + " |")
    score = []
    for r in releases:
        col = m.columns[r]
        s = col.get("score") or {}
        earned = s.get("earned")
        score.append("crashed" if col.get("crashed") else f"{_num(earned)}/{s.get('possible', '?')}" if earned is not None else "?")
    out.append("| **score** | " + " | ".join(score) + " |")
    out += ["", "Engines: " + "; ".join(f"{r}: {m.columns[r].get('describe', '')}" for r in releases)]
    differs, unsteady = across_releases(m), not_reproduced(m)
    out += ["", "## Where the releases differ", "", *([f"- {line}" for line in differs] or ["- nowhere: every checkpoint has the same outcome"])]
    if unsteady:
        out += ["", "## Differences that did not reproduce", "",
                "Measured again on every release, these came out otherwise: not a difference between the releases.", "",
                *[f"- {line}" for line in unsteady]]
    if diff_lines is not None:
        out += ["", "## Changes since the previous matrix", "", *([f"- {line}" for line in diff_lines] or ["- none"])]
    return "\n".join(out) + "\n"


def diff(before: Matrix, after: Matrix) -> list[str]:
    """What a maintainer should look at: outcomes that changed, figures that moved by more than a quarter,
    releases and checkpoints that appeared or went away."""
    lines: list[str] = []
    for r in after.columns:
        if r not in before.columns:
            lines.append(f"new release column: Docker {r}")
    for r in before.columns:
        if r not in after.columns:
            lines.append(f"release no longer in the matrix: Docker {r}")
    common = [r for r in after.columns if r in before.columns]
    for cid in sorted(set(before.cells) | set(after.cells), key=lambda c: (c not in KEY_FIGURES, c)):
        for r in common:
            old, new = before.cell(cid, r), after.cell(cid, r)
            if old.outcome != new.outcome:
                lines.append(f"`{cid}` on Docker {r}: {old.outcome} → {new.outcome}" + (f" ({new.message})" if new.message else ""))
                continue
            for key, value in new.figures.items():
                was = old.figures.get(key)
                if isinstance(value, (int, float)) and isinstance(was, (int, float)) and not isinstance(value, bool):
                    base = max(abs(was), 1e-9)
                    if abs(value - was) / base > FIGURE_CHANGE and abs(value - was) >= 1:
                        lines.append(f"`{cid}` on Docker {r}: {key} {_num(was)} → {_num(value)}")
    return lines


def _ran(m: Matrix) -> list[str]:
    """The releases whose run gave a report (a crashed release tells nothing about a difference)."""
    return [r for r in m.columns if not m.columns[r].get("crashed")]


def differing(m: Matrix) -> list[str]:
    """Checkpoints whose outcome differs between the releases that ran."""
    ran = _ran(m)
    return [cid for cid in m.ids() if len({m.cell(cid, r).outcome for r in ran}) > 1]


def _reproduced(m: Matrix, cid: str) -> bool:
    again = m.rechecked.get(cid)
    return again is None or all(again.get(r) == m.cell(cid, r).outcome for r in _ran(m))


def across_releases(m: Matrix) -> list[str]:
    """Checkpoints whose outcome differs between the releases, and did so again when measured once more
    (a matrix without a recheck: every difference)."""
    return [f"`{cid}`: " + ", ".join(f"{r} {m.cell(cid, r).outcome}" for r in m.columns) + (" (and again when rechecked)" if cid in m.rechecked else "")
            for cid in differing(m) if _reproduced(m, cid)]


def not_reproduced(m: Matrix) -> list[str]:
    """Differences that the recheck did not give again: each release's first outcome, then the recheck's."""
    return [f"`{cid}`: " + ", ".join(f"{r} {m.cell(cid, r).outcome} then {m.rechecked[cid].get(r, 'missing')}" for r in m.columns)
            for cid in differing(m) if not _reproduced(m, cid)]


def png(m: Matrix, path: Path) -> None:
    """A grid: a row per checkpoint, a column per release, coloured by outcome, with the key figure written in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    colours = {"passed": "#4caf50", "failed": "#e53935", "not-gradable": "#ffb300", "blocked": "#9e9e9e", "missing": "#eeeeee"}
    ids, releases = m.ids(), list(m.columns)
    fig, ax = plt.subplots(figsize=(2.6 + 2.4 * len(releases), 0.9 + 0.38 * len(ids)))
    for y, cid in enumerate(ids):
        for x, r in enumerate(releases):
            c = m.cell(cid, r)
            ax.add_patch(Rectangle((x, y), 0.96, 0.9, color=colours.get(c.outcome, "#eeeeee")))
            units = dict(KEY_FIGURES.get(cid, ()))
            label = " · ".join(f"{_num(v)} {units[k]}".strip() for k, v in c.figures.items()) or c.outcome
            ax.text(x + 0.48, y + 0.45, label, ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(releases))
    ax.set_ylim(len(ids), 0)
    ax.set_xticks([x + 0.48 for x in range(len(releases))], [_column_head(r, m.columns[r]) for r in releases], fontsize=9)
    ax.set_yticks([y + 0.45 for y in range(len(ids))], ids, fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("orchlab: the lab on each Docker release (green passed, red failed, amber not gradable, grey blocked)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
