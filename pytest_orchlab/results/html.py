"""The report as one self-contained HTML page: a card per checkpoint in the lab's order, a chart where the evidence
has a time axis, in the run's language. No script, no font, no file beside it: it opens offline and without
JavaScript. Pure functions of the JSON report (``Report.to_json()``) and of the class's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from pytest_orchlab.results import charts
from pytest_orchlab.results.checklist import BY_ID, PHASE_TITLES
from pytest_orchlab.results.report import WORD

COLORS = {"passed": "#2e7d32", "failed": "#c62828", "not-gradable": "#f9a825", "blocked": "#78909c"}
LABELS = {
    "en": {"clients": "concurrent clients", "rps": "req/s", "cpu": "peak CPU %", "p50": "median latency", "sweep": "the load sweep",
           "first_ok": "first success", "downtime": "downtime", "outage": "the outage", "slot": "slot", "ok_s": "ok/s",
           "failed": "failed", "old": "old image", "replacing": "stopping → starting", "new": "new image", "rollout": "task slots over time",
           "killed": "killed", "replaced": "replacement started", "healing": "self-healing", "compare": "Swarm and Kubernetes",
           "score": "Score", "hint": "Hint", "fix": "Fix", "points": "points", "evidence": "evidence", "run": "run",
           "title": "orchlab lab report", "class": "class results", "student": "student", "status": "status",
           "distribution": "answers per task", "converged": "converged"},
    "ko": {"clients": "동시 클라이언트", "rps": "초당 요청", "cpu": "최고 CPU %", "p50": "중앙값 응답 시간", "sweep": "부하 단계",
           "first_ok": "첫 성공", "downtime": "다운타임", "outage": "장애", "slot": "슬롯", "ok_s": "성공/초",
           "failed": "실패", "old": "이전 이미지", "replacing": "중지 → 시작", "new": "새 이미지", "rollout": "시간에 따른 작업 슬롯",
           "killed": "종료됨", "replaced": "대체 시작", "healing": "자동 복구", "compare": "Swarm 과 Kubernetes",
           "score": "점수", "hint": "힌트", "fix": "해결", "points": "점", "evidence": "증거", "run": "실행",
           "title": "orchlab 실습 보고서", "class": "반 결과", "student": "학생", "status": "상태",
           "distribution": "작업별 응답", "converged": "수렴"},
}
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:880px;padding:16px;color:#222;background:#fafafa}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:28px;border-bottom:1px solid #ddd}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid var(--c);border-radius:4px;padding:10px 14px;margin:12px 0}
.head{display:flex;justify-content:space-between;gap:8px}.badge{color:#fff;background:var(--c);border-radius:3px;padding:1px 8px;font-size:.85em}
.id{color:#777;font-size:.85em}.hint{color:#555;font-size:.95em}details{font-size:.85em;color:#555}pre{white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;font-size:.9em}
"""


def _chart(cp: dict[str, Any], by_id: dict[str, dict[str, Any]], labels: dict[str, str]) -> str | None:
    ev, cid = cp.get("evidence") or {}, cp["id"]
    if cid == "p1-cpu-saturation":
        return charts.sweep_svg(ev, labels)
    if cid == "p1-throughput-ceiling":
        return charts.bars_svg({f"{k} clients": float(v) for k, v in (ev.get("rps_by_concurrency") or {}).items()}, labels["rps"], " req/s")
    if cid == "p1-manual-recovery" and "p1-kill-outage" in by_id:
        return charts.outage_svg(by_id["p1-kill-outage"].get("evidence") or {}, ev, labels)
    if cid in ("p2-rolling-update", "p2-rollback"):
        return charts.rollout_svg(ev, labels)
    if cid in ("p3-rolling-update", "p3-rollback", "p2x-drain"):
        return charts.rollout_svg(ev, labels)  # the traffic; Kubernetes' pods have no slots to draw
    if cid in ("p2-self-healing", "p3-self-healing"):
        return charts.healing_svg(ev, labels)
    if cid in ("p2-load-balanced", "p3-scale-out"):
        dist = ev.get("distribution") or ev.get("distribution_by_address") or {}
        return charts.bars_svg({str(k)[:14]: float(v) for k, v in dist.items()}, labels["distribution"])
    if cid in ("p2-scale-out", "p2-stack-deployed") and ev.get("converged_s") is not None:
        return charts.bars_svg({labels["converged"]: float(ev["converged_s"])}, labels["converged"], " s")
    return None


def _card(cp: dict[str, Any], by_id: dict[str, dict[str, Any]], lang: str) -> str:
    labels = LABELS[lang]
    title = BY_ID[cp["id"]].title.render(lang) if cp["id"] in BY_ID else (cp.get("title") or cp["id"])
    outcome = cp["outcome"]
    parts = [f'<section class="card" id="{escape(cp["id"])}" style="--c:{COLORS.get(outcome, "#999")}">',
             f'<div class="head"><strong>{escape(title)}</strong><span class="badge">{escape(WORD[lang].get(outcome, outcome))}</span></div>',
             f'<div class="id">{escape(cp["id"])} · {float(cp.get("earned") or 0):g}/{cp.get("points", 1)} {labels["points"]} · '
             f'{float(cp.get("seconds") or 0):.1f} s</div>',
             f"<p>{escape(str(cp.get('message') or ''))}</p>"]
    if cp.get("hint") and outcome in ("failed", "not-gradable"):
        word = labels["fix"] if outcome == "not-gradable" else labels["hint"]
        parts.append(f'<p class="hint">{word}: {escape(str(cp["hint"]))}</p>')
    svg = _chart(cp, by_id, labels)
    if svg:
        parts.append(f'<figure class="chart" data-checkpoint="{escape(cp["id"])}">{svg}</figure>')
    import json

    evidence = json.dumps(cp.get("evidence") or {}, ensure_ascii=False, indent=1, default=str)
    parts.append(f"<details><summary>{labels['evidence']}</summary><pre>{escape(evidence[:20000])}</pre></details></section>")
    return "".join(parts)


def render(report: dict[str, Any], lang: str | None = None) -> str:
    """The whole page for one run's report."""
    lang = lang if lang in LABELS else (report.get("lang") if report.get("lang") in LABELS else "en")
    assert lang is not None
    labels = LABELS[lang]
    checkpoints = report.get("checkpoints") or []
    by_id = {cp["id"]: cp for cp in checkpoints}
    score = report.get("score") or {}
    who = report.get("student") or (report.get("submission") or {}).get("source") or report.get("lab_dir", "")
    out = [f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
           f"<title>{escape(labels['title'])}: {escape(str(who))}</title><style>{STYLE}</style></head><body>",
           f"<h1>{escape(labels['title'])}: {escape(str(who))}</h1>",
           f"<p>{labels['score']}: <strong>{score.get('earned', 0):g}/{score.get('possible', 0)}</strong> · {labels['run']} "
           f"{escape(str(report.get('run_id', '')))} · Docker {escape(str((report.get('engine') or {}).get('version') or '?'))}</p>"]
    phases = sorted({int(cp.get("phase") or 0) for cp in checkpoints}, key=lambda p: p or 99)
    for phase in phases:
        title = PHASE_TITLES[phase].render(lang) if phase in PHASE_TITLES else "Course checkpoints"
        out.append(f"<h2>{escape(title)}</h2>")
        out += [_card(cp, by_id, lang) for cp in checkpoints if int(cp.get("phase") or 0) == phase]
    compare = charts.compare_svg(report.get("swarm_vs_kubernetes") or [], labels)
    if compare:
        out.append(f"<h2>{escape(labels['compare'])}</h2><figure class=\"chart\" data-checkpoint=\"compare\">{compare}</figure>")
    out.append("</body></html>\n")
    return "".join(out)


def index(rows: Sequence[tuple[str, str, str | None, dict[str, Any] | None]], lang: str = "en") -> str:
    """The class's page: (student, status, link to their page or None, report or None) per row."""
    labels = LABELS.get(lang, LABELS["en"])
    ids: dict[str, None] = {}
    for _, _, _, report in rows:
        for cp in (report or {}).get("checkpoints", []):
            ids.setdefault(cp["id"], None)
    head = "".join(f"<th>{escape(cid)}</th>" for cid in ids)
    body = []
    for sid, status, link, report in rows:
        got = {cp["id"]: cp["outcome"] for cp in (report or {}).get("checkpoints", [])}
        score = (report or {}).get("score") or {}
        name = f'<a href="{escape(link)}">{escape(sid)}</a>' if link else escape(sid)
        words = WORD[lang if lang in WORD else "en"]
        cells = "".join(f'<td style="background:{COLORS.get(got.get(cid, ""), "#fff")}33">{escape(words.get(got.get(cid, ""), ""))}</td>'
                        for cid in ids)
        body.append(f"<tr><td>{name}</td><td>{escape(status)}</td><td>{score.get('earned', '')}/{score.get('possible', '')}</td>{cells}</tr>")
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>orchlab: {labels["class"]}</title><style>{STYLE}</style></head>'
            f"<body><h1>orchlab: {labels['class']}</h1><table><tr><th>{labels['student']}</th><th>{labels['status']}</th>"
            f"<th>{labels['score']}</th>{head}</tr>{''.join(body)}</table></body></html>\n")
