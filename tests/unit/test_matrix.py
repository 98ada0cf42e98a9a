"""The release matrix from reports: cells, key figures, Markdown, JSON round trip, the diff and the chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.docker.engines import dpkg_version, release_of
from pytest_orchlab.results.matrix import Matrix, across_releases, diff, differing, markdown, not_reproduced, png


def report(peak: float, update_outcome: str = "passed", update_s: float = 134.0) -> dict[str, Any]:
    return {"score": {"earned": 10, "possible": 11}, "timings_s": {"session": 270.0}, "checkpoints": [
        {"id": "p1-cpu-saturation", "outcome": "passed", "message": f"peak CPU {peak:.0f}%", "evidence": {"peak_cpu_pct": peak, "steps": []}},
        {"id": "p2-rolling-update", "outcome": update_outcome, "message": "m",
         "evidence": {"seconds": update_s, "failed_requests": 0 if update_outcome == "passed" else 12}},
        {"id": "course-extra", "outcome": "failed", "message": "own checkpoint", "evidence": {}},
    ]}


def matrix(**reports: dict[str, Any] | None) -> Matrix:
    about = {r: {"version": {"20.10": "20.10.24", "26.1": "26.1.5"}.get(r, r), "describe": f"engine {r}"} for r in reports}
    return Matrix.from_reports({r.replace("_", "."): rep for r, rep in reports.items()},
                               {r.replace("_", "."): a for r, a in about.items()})


def test_cells_carry_outcome_and_key_figures() -> None:
    m = matrix(**{"20_10": report(94.8), "26_1": report(93.1, "failed", 150.0)})
    assert m.ids() == ["p1-cpu-saturation", "p2-rolling-update", "course-extra"]  # lab order, then a course's own
    assert m.cell("p1-cpu-saturation", "20.10").figures == {"peak_cpu_pct": 94.8}  # not the whole evidence
    md = markdown(m)
    assert "| `p1-cpu-saturation` | ✅ 94.8 % CPU | ✅ 93.1 % CPU |" in md
    assert "❌ 150 s · 12 failed" in md and "| **score** | 10/11 | 10/11 |" in md
    assert across_releases(m) == ["`p2-rolling-update`: 20.10 passed, 26.1 failed"]


def test_a_difference_is_one_only_when_the_recheck_gives_it_again() -> None:
    first = matrix(**{"20_10": report(94.8), "26_1": report(93.1, "failed", 150.0)})
    assert differing(first) == ["p2-rolling-update"]
    # Measured again: 26.1 failed again, so the releases differ.
    confirmed = first.with_recheck(matrix(**{"20_10": report(95.0), "26_1": report(92.0, "failed", 151.0)}))
    assert confirmed.rechecked == {"p2-rolling-update": {"20.10": "passed", "26.1": "failed"}}
    assert across_releases(confirmed) == ["`p2-rolling-update`: 20.10 passed, 26.1 failed (and again when rechecked)"]
    assert not_reproduced(confirmed) == [] and "did not reproduce" not in markdown(confirmed)
    # Measured again: 26.1 passed this time: noise, not Docker's doing; said as such, not as a release difference.
    noisy = first.with_recheck(matrix(**{"20_10": report(95.0), "26_1": report(92.0)}))
    assert across_releases(noisy) == [] and not_reproduced(noisy) == ["`p2-rolling-update`: 20.10 passed then passed, 26.1 failed then passed"]
    md = markdown(noisy)
    assert "## Where the releases differ\n\n- nowhere" in md and "## Differences that did not reproduce" in md
    assert Matrix.from_json(json.loads(json.dumps(noisy.to_json()))).rechecked == noisy.rechecked
    # A release that crashed tells nothing about a difference.
    assert differing(matrix(**{"20_10": report(94.8), "28_5": None})) == []


def test_json_round_trip_and_a_crashed_release() -> None:
    m = matrix(**{"20_10": report(94.8), "28_5": None})
    again = Matrix.from_json(json.loads(json.dumps(m.to_json())))
    assert again.cells == m.cells and again.columns["28.5"]["crashed"] is True
    assert again.cell("p1-cpu-saturation", "28.5").outcome == "missing"
    assert "| **score** | 10/11 | crashed |" in markdown(again)
    with pytest.raises(ValueError, match="not an orchlab matrix"):
        Matrix.from_json({"schema": "other"})


def test_diff_names_outcomes_figures_and_columns() -> None:
    before = matrix(**{"20_10": report(94.8), "26_1": report(93.0)})
    after = matrix(**{"20_10": report(93.9), "26_1": report(60.0, "failed"), "28_5": report(95.0)})
    lines = diff(before, after)
    assert "new release column: Docker 28.5" in lines
    assert "`p2-rolling-update` on Docker 26.1: passed → failed (m)" in lines
    assert "`p1-cpu-saturation` on Docker 26.1: peak_cpu_pct 93 → 60" in lines
    assert not any("20.10" in line for line in lines)  # 94.8 → 93.9 is noise, not a change
    assert "## Changes since the previous matrix" in markdown(after, lines)
    assert "- none" in markdown(before, diff(before, before))


def test_png_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the chart needs the [grade] extra")
    png(matrix(**{"20_10": report(94.8), "26_1": report(93.1, "failed")}), tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_releases_are_named_loosely_and_checked() -> None:
    assert release_of("20.10.24") == "20.10" and release_of("v28.5") == "28.5"
    with pytest.raises(OrchlabError, match="unknown Docker release '19.03'"):
        release_of("19.03")


def test_dpkg_version_reads_the_status_file(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("Package: runc\nVersion: 1.1.5\n\nPackage: docker.io\nStatus: install ok installed\nVersion: 26.1.5+dfsg1-9\n")
    assert dpkg_version(tmp_path, "docker.io") == "26.1.5+dfsg1-9"
    assert dpkg_version(tmp_path, "containerd") is None
