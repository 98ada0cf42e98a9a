"""The lab suite on each Docker release: an inner engine per release, one pytest run against each, a matrix.

Engines run one after another by default (Phase 1 measures CPU); ``parallel`` starts them together and
lets the machine's ``cpu`` turn keep the saturation sweeps apart. Every inner engine carries the
matrix run's label, is removed as soon as its run ends, also on Ctrl-C, and is swept after a crash.
Where the releases' outcomes differ, the phases holding those checkpoints run once more on every release
(each on a fresh engine, under ``<release>/recheck/``): the matrix calls it a difference only if it reproduces.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import RUN_LABEL, Engine
from pytest_orchlab.docker.engines import ENGINE_LABEL, InnerEngine, build_engine_image, release_of, remove_engines, start_engine
from pytest_orchlab.grading.labrun import run_lab
from pytest_orchlab.results.matrix import Matrix, diff, differing, markdown, png

PHASE_MARKS = (("p2x-", "phase2x"), ("p1-", "phase1"), ("p2-", "phase2"), ("p3-", "phase3"))


@dataclass
class ReleaseRun:
    """One release's column: the engine it ran on, its report (None if the run crashed) and why."""

    release: str
    engine: InnerEngine | None = None
    report: dict[str, Any] | None = None
    exit_code: int | None = None
    reason: str = ""
    seconds: float = 0.0
    about: dict[str, Any] = field(default_factory=dict)


class ReleaseMatrix:
    """``orchlab matrix``: build what is missing, then run ``command`` against an engine of each release."""

    def __init__(self, releases: Sequence[str], out: Path, command: Sequence[str], *, lab_dir: Path, base_image: str | None,
                 parallel: bool = False, timeout_s: float = 1800.0, swarm_nodes: int = 1, progress: Callable[[str], None] = print) -> None:
        self.releases = list(dict.fromkeys(release_of(r) for r in releases))
        self.out, self.command, self.lab_dir, self.base_image = out, list(command), lab_dir, base_image
        self.parallel, self.timeout_s, self.progress = parallel, timeout_s, progress
        self.swarm_nodes = swarm_nodes  # > 1: each release is a swarm of that many inner engines, made by the pytest run
        self.host = Engine.connect()

    def _mine(self, labels: dict[str, str]) -> bool:
        return labels.get(RUN_LABEL) == self.host.run_id

    def run(self) -> list[ReleaseRun]:
        for release in self.releases:
            self.progress(build_engine_image(self.host.client, release, progress=self.progress))
        return self._run(self.releases)

    def _run(self, releases: Sequence[str], sub: str = "", selection: Sequence[str] = ()) -> list[ReleaseRun]:
        from pytest_orchlab.core.runs import RunLock

        with RunLock(self.host.run_id):
            try:
                if self.parallel:
                    with ThreadPoolExecutor(max_workers=len(releases), thread_name_prefix="orchlab-matrix") as pool:
                        return list(pool.map(lambda r: self.one(r, sub, selection), releases))
                return [self.one(r, sub, selection) for r in releases]
            finally:
                removed = remove_engines(self.host.client, self._mine)
                if removed:
                    self.progress("orchlab: removed " + ", ".join(removed))

    def recheck(self, runs: Sequence[ReleaseRun]) -> list[ReleaseRun] | None:
        """The phases whose checkpoints differed between the releases, run once more on each (None: nothing differed)."""
        ids = differing(matrix_of(runs))
        marks = list(dict.fromkeys(mark for cid in ids for prefix, mark in PHASE_MARKS if cid.startswith(prefix)))
        if not ids:
            return None
        self.progress(f"orchlab: {', '.join(ids)} differ between the releases: measuring {' and '.join(marks)} again on each")
        # The last -m is pytest's selection: these phases whole, as their checkpoints need what comes before them.
        return self._run([r.release for r in runs if r.report is not None], sub="recheck", selection=("-m", " or ".join(marks)))

    def one(self, release: str, sub: str = "", selection: Sequence[str] = ()) -> ReleaseRun:
        here = self.out / release / sub if sub else self.out / release
        here.mkdir(parents=True, exist_ok=True)
        (here / "report.json").unlink(missing_ok=True)
        result = ReleaseRun(release)
        began = time.monotonic()
        try:
            if self.swarm_nodes > 1:
                self.progress(f"orchlab: Docker {release}: running the lab suite on {self.swarm_nodes} nodes ...")
                result.exit_code, result.reason = self._pytest(None, here, ["--swarm-nodes", str(self.swarm_nodes), "--swarm-release", release, *selection])
            else:
                result.engine = start_engine(self.host.client, release, labels={RUN_LABEL: self.host.run_id},
                                             base_image=self.base_image, progress=self.progress)
                self.progress(f"orchlab: Docker {release}: {result.engine.describe()}; running the lab suite ...")
                result.exit_code, result.reason = self._pytest(result.engine, here, selection)
        except OrchlabError as exc:
            result.reason = exc.render("en")
        finally:
            remove_engines(self.host.client, lambda labels: self._mine(labels) and labels.get(ENGINE_LABEL) == release)
        result.seconds = time.monotonic() - began
        if (here / "report.json").exists() and result.exit_code in (0, 1):
            result.report = json.loads((here / "report.json").read_text())
        elif not result.reason:
            result.reason = f"pytest exited {result.exit_code}; see {here / 'pytest.log'}"
        if result.engine is not None:
            result.about = {"version": result.engine.version, "mode": result.engine.mode, "describe": result.engine.describe()}
        elif result.report is not None:  # the run made its own nodes: what they were is in its report
            nodes = result.report.get("engine", {}).get("swarm_nodes", {})
            result.about = {"version": result.report.get("engine", {}).get("version"), "nodes": len(nodes.get("nodes", [])),
                            "mode": next((n.get("mode") for n in nodes.get("nodes", [])), None),
                            "describe": f"{len(nodes.get('nodes', []))} nodes of Docker {result.report.get('engine', {}).get('version')}"}
        result.about.update({"seconds": round(result.seconds, 1), "reason": result.reason})
        self.progress(f"orchlab: Docker {release}: " + (
            f"{result.report['score']['earned']:g}/{result.report['score']['possible']} points in {result.seconds:.0f} s"
            if result.report else f"no result ({result.reason})"))
        return result

    def _pytest(self, engine: InnerEngine | None, here: Path, extra: Sequence[str] = ()) -> tuple[int | None, str]:
        env = {**os.environ, **(engine.env() if engine else {}), "PYTHONUNBUFFERED": "1"}
        if self.base_image:
            env["ORCHLAB_BASE_IMAGE"] = self.base_image
        argv = [*self.command, "--lab-dir", str(self.lab_dir), "--lab-report", str(here / "report.json"), *extra]
        done = run_lab(argv, here, env, self.timeout_s)
        return done.exit_code, done.reason


def matrix_of(runs: Sequence[ReleaseRun]) -> Matrix:
    return Matrix.from_reports({r.release: r.report for r in runs}, {r.release: r.about for r in runs})


def write_matrix(runs: Sequence[ReleaseRun], out: Path, previous: Path | None,
                 again: Sequence[ReleaseRun] | None = None) -> tuple[Matrix, list[str], list[str]]:
    """matrix.json, matrix.md and matrix.png in ``out``; the diff against ``previous`` (a matrix.json) if given;
    ``again``: the recheck's runs, which decide whether a difference between the releases reproduced."""
    m = matrix_of(runs)
    if again is not None:
        m = m.with_recheck(matrix_of(again))
    changes: list[str] | None = None
    if previous is not None:
        try:
            changes = diff(Matrix.from_json(json.loads(previous.read_text())), m)
        except (OSError, ValueError, KeyError) as exc:
            said = f"cannot read the previous matrix {previous}: {exc}"
            raise OrchlabError(t(f"이전 매트릭스 {previous} 를 읽을 수 없습니다: {exc}", said)) from None
    written = ["matrix.json", "matrix.md"]
    (out / "matrix.json").write_text(json.dumps(m.to_json(), ensure_ascii=False, indent=2) + "\n")
    (out / "matrix.md").write_text(markdown(m, changes))
    try:
        png(m, out / "matrix.png")
        written.append("matrix.png")
    except ImportError:
        written.append("no matrix.png: matplotlib is not installed (pip install 'pytest-orchlab[grade]')")
    return m, changes or [], written
