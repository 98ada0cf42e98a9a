"""Results as a person reads them: the lab's checklist in the terminal, and a versioned JSON report."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_orchlab.core.text import t
from pytest_orchlab.results.checklist import BY_ID, PHASE_TITLES

SCHEMA = "pytest-orchlab/report/1"
OUTCOMES = ("passed", "failed", "not-gradable", "blocked")
MARK = {"passed": "✅", "failed": "❌", "not-gradable": "⚠️ ", "blocked": "⏸️ "}
WORD = {
    "ko": {"passed": "통과", "failed": "실패", "not-gradable": "채점 불가", "blocked": "보류(선행 실패)"},
    "en": {"passed": "passed", "failed": "failed", "not-gradable": "not gradable", "blocked": "blocked"},
}

HINT_WORD = {"ko": ("힌트", "해결"), "en": ("Hint", "Fix")}
CREDIT = {"ko": "점수: {earned}/{points} (orchlab 이 이 단계를 직접 수행했습니다)",
          "en": "points: {earned} of {points} (orchlab performed this step itself)"}
UNSELECTED = {"ko": "선행 체크포인트 {ids} 는 선택되지 않아 채점하지 않았고, 필요한 환경만 준비했습니다",
              "en": "prerequisites {ids} were not selected: their environment was provisioned, not graded"}
COURSE_TITLE = t("과정 추가 체크포인트", "Course checkpoints")


COMPARED = {  # measure: (Swarm checkpoint, Kubernetes checkpoint, evidence key)
    "scale to 5, converged (s)": ("p2-scale-out", "p3-scale-out", "converged_s"),
    "killed/deleted replica back (s)": ("p2-self-healing", "p3-self-healing", "recovery_s"),
    "failed requests meanwhile": ("p2-self-healing", "p3-self-healing", "failed_requests"),
    "rolling update to v2 (s)": ("p2-rolling-update", "p3-rolling-update", "seconds"),
    "failed requests in the update": ("p2-rolling-update", "p3-rolling-update", "failed_requests"),
    "rollback (s)": ("p2-rollback", "p3-rollback", "seconds"),
    "failed requests in the rollback": ("p2-rollback", "p3-rollback", "failed_requests"),
}


def _num(value: float) -> str:
    return f"{value:g}"


@dataclass
class Result:
    """One checkpoint's final word."""

    id: str
    phase: int
    outcome: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    points: int = 1
    seconds: float = 0.0
    title: str | None = None
    earned: float = 0.0


@dataclass
class Report:
    run_id: str
    lang: str
    lab_dir: str
    started: float = field(default_factory=time.time)
    finished: float | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cleanup: list[str] = field(default_factory=list)
    submission: dict[str, Any] = field(default_factory=dict)  # what the intake gate read: source, digest, files, ignored, refused
    sessions: list[str] = field(default_factory=list)  # run ids of earlier sessions of this lab run (orchlab grade's schedule)
    carried: dict[str, Any] = field(default_factory=dict)  # what an earlier session measured beside its results

    def continue_from(self, earlier: dict[str, Any]) -> None:
        """Take an earlier session's report (Phase 1 of the same lab, the same files) as this run's beginning: its
        results count as this session's, in the lab's order, and its timings and cleanup are kept."""
        for cp in earlier.get("checkpoints", []):
            self.results[cp["id"]] = Result(**{k: cp[k] for k in Result.__dataclass_fields__ if k in cp})
        self.sessions = [*earlier.get("sessions", []), str(earlier.get("run_id"))]
        self.carried = {"started": earlier.get("started"), "timings": dict(earlier.get("timings_s") or {}),
                        "engine": earlier.get("engine") or {}}
        self.timings.update({k: float(v) for k, v in self.carried["timings"].items() if k != "session"})
        self.cleanup += [f"earlier session: {line}" for line in earlier.get("cleanup", [])]

    def score(self) -> tuple[float, int]:
        """Points earned by the student's own work, and points possible."""
        earned = sum(r.earned for r in self.results.values() if r.outcome == "passed")
        return earned, sum(r.points for r in self.results.values())

    def to_json(self) -> dict[str, Any]:
        earned, possible = self.score()
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "lang": self.lang,
            "lab_dir": self.lab_dir,
            "started": self.carried.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.finished or time.time())),
            "engine": self.engine,
            "cluster": self.cluster,
            "score": {"earned": int(earned) if float(earned).is_integer() else earned, "possible": possible},
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
            "checkpoints": [asdict(r) for r in self.results.values()],
            "swarm_vs_kubernetes": self.comparison(),
            "cleanup": self.cleanup,
            "submission": self.submission,
            **({"sessions": [*self.sessions, self.run_id]} if self.sessions else {}),
        }

    def write(self, path: Path, key: bytes | None = None) -> dict[str, Any]:
        """Write the JSON report, signed when a course key is given; returns what was written."""
        from pytest_orchlab.results.signing import sign

        data: dict[str, Any] = json.loads(json.dumps(self.to_json(), ensure_ascii=False, default=str))
        if key:
            data = sign(data, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return data

    def comparison(self) -> list[dict[str, Any]]:
        """Phase 2 beside Phase 3, when both ran: the same experiments on Swarm and on Kubernetes."""
        rows = []
        for what, (p2, p3, key) in COMPARED.items():
            a, b = self.results.get(p2), self.results.get(p3)
            if a is not None and b is not None and a.evidence.get(key) is not None and b.evidence.get(key) is not None:
                rows.append({"measure": what, "swarm": a.evidence[key], "kubernetes": b.evidence[key]})
        return rows

    def checklist(self) -> list[str]:
        """The lab's "Phase별 체크포인트" with ✅/❌ and the measured numbers, in the run's language."""
        lines: list[str] = []
        for phase in sorted({r.phase for r in self.results.values()}, key=lambda p: p or 99):
            lines.append(PHASE_TITLES.get(phase, COURSE_TITLE).render(self.lang))
            for r in (r for r in self.results.values() if r.phase == phase):
                title = BY_ID[r.id].title.render(self.lang) if r.id in BY_ID else (r.title or r.id)
                lines.append(f"  {MARK[r.outcome]} {title}  [{r.id}, {r.seconds:.1f}s]")
                lines.append(f"      {WORD[self.lang][r.outcome]}: {r.message}")
                if r.outcome == "passed" and r.earned < r.points:
                    lines.append(f"      {CREDIT[self.lang].format(earned=_num(r.earned), points=r.points)}")
                if r.hint and r.outcome in ("failed", "not-gradable"):
                    lines.append(f"      {HINT_WORD[self.lang][r.outcome == 'not-gradable']}: {r.hint}")
                missing = r.evidence.get("prerequisites_not_selected")
                if missing:
                    lines.append(f"      {UNSELECTED[self.lang].format(ids=', '.join(missing))}")
        earned, possible = self.score()
        label = "점수" if self.lang == "ko" else "Score"
        lines.append(f"{label}: {_num(earned)}/{possible}")
        compared = self.comparison()
        if compared:
            lines.append("Swarm ↔ Kubernetes:")
            lines += [f"  {row['measure']}: {row['swarm']} ↔ {row['kubernetes']}" for row in compared]
        if self.timings:
            lines.append(("시간: " if self.lang == "ko" else "Timings: ")
                         + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        for phase in (1, 2, 3):
            wall, floor = self.timings.get(f"phase{phase}"), self.timings.get(f"phase{phase}_engine_floor")
            if wall and floor:
                lines.append(f"Phase {phase}: 실제 {wall:.0f}초 / 엔진 하한 {floor:.0f}초 = {wall / floor:.2f}배" if self.lang == "ko"
                              else f"Phase {phase}: wall {wall:.0f} s / engine floor {floor:.0f} s = {wall / floor:.2f}x")
        return lines
