"""The HTML report: self-contained, in the run's language, and its charts drawn from the evidence they show."""

from __future__ import annotations

from typing import Any

from pytest_orchlab.measure.timeline import traffic_series
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.results import charts
from pytest_orchlab.results.html import index, render

T0 = 1_000_000.0


def update_evidence() -> dict[str, Any]:
    samples = [Reply(T0 + n * 0.02, 0.01, status=200) for n in range(5000)]
    samples += [Reply(T0 + start + 0.3, 0.0, error="refused") for start in (24.0, 48.0, 72.0)]
    samples.append(Reply(T0 + 49.0, 3.0, error="timeout"))
    reps = [{"slot": str(n + 1), "begin": T0 + 24 * n + 10, "stop": T0 + 24 * n + 10, "start": T0 + 24 * (n + 1)} for n in range(5)]
    return {"replacements": reps, "timeline": traffic_series(samples, T0, T0 + 130), "failed_requests": 4}


def report(ev: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    return {"run_id": "r1", "lang": lang, "score": {"earned": 1, "possible": 4}, "engine": {"version": "20.10.24"}, "student": "Kim <b>",
            "checkpoints": [{"id": "p2-rolling-update", "phase": 2, "outcome": "failed", "message": "4 of 5004 failed", "hint": "add a healthcheck",
                             "points": 3, "earned": 0, "seconds": 130.0, "evidence": ev},
                            {"id": "p1-image-builds", "phase": 1, "outcome": "passed", "message": "built", "points": 1, "earned": 1,
                             "seconds": 2.0, "evidence": {}}],
            "swarm_vs_kubernetes": [{"measure": "rollback (s)", "swarm": 77.0, "kubernetes": 4.8}]}


def test_the_traffic_series_keeps_every_failed_request() -> None:
    ev = update_evidence()
    assert len(ev["timeline"]["failed"]) == 4 and ev["timeline"]["failed"][0] == [24.3, "refused"]
    assert sum(ev["timeline"]["ok_per_s"]) == 5000 and ev["timeline"]["ok_per_s"][0] == 50


def test_the_update_chart_has_a_slot_per_task_and_a_mark_per_failed_request() -> None:
    ev = update_evidence()
    data = charts.rollout_data(ev)
    assert data is not None and [s.slot for s in data.slots] == ["1", "2", "3", "4", "5"]
    assert data.slots[0].stop == 10 and data.slots[0].start == 24 and len(data.failed) == 4
    svg = charts.rollout_svg(ev, {k: k for k in ("old", "replacing", "new", "rollout", "slot", "ok_s", "failed")})
    assert svg is not None and svg.count('class="failed"') == 4 and svg.count(">slot ") == 5


def test_the_page_is_self_contained_escaped_and_in_the_runs_language() -> None:
    page = render(report(update_evidence()))
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "Kim &lt;b&gt;" in page and "Kim <b>" not in page
    assert page.index("p1-image-builds") < page.index("p2-rolling-update"), "the lab's order: Phase 1 first"
    assert 'data-checkpoint="p2-rolling-update"' in page and 'data-checkpoint="compare"' in page
    korean = render(report(update_evidence(), "ko"))
    assert '<html lang="ko">' in korean and "실패" in korean and "힌트: add a healthcheck" in korean


def test_no_evidence_no_chart_and_the_class_index_links_each_student() -> None:
    assert charts.rollout_svg({}, {}) is None and charts.sweep_svg({}, {}) is None
    page = index([("ann", "graded", "students/ann/report.html", report(update_evidence())), ("bo", "failed", None, None)])
    assert '<a href="students/ann/report.html">ann</a>' in page and "<td>bo</td>" in page
