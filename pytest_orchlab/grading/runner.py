"""One isolated lab run per student, in order, with progress, resume and crashes recorded.

Each student gets their own pytest process (own run id, own report, own cleanup), started exactly as
a student would start it, so a crash or a hung run of one student never touches the next one.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_orchlab.core.healthcheck import declared_healthcheck
from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.grading.roster import Student
from pytest_orchlab.results.signing import KEY_ENV, verify

CLEAN_EXITS = (0, 1)  # pytest: all passed / some failed; anything else is a crashed run
LOG_TAIL = 12


@dataclass
class Outcome:
    """What happened to one student: graded (with the report), skipped as already graded, or crashed."""

    student: Student
    status: str  # graded | resumed | crashed
    report: dict[str, Any] | None = None
    seconds: float = 0.0
    exit_code: int | None = None
    reason: str = ""
    folder: Path = field(default_factory=Path)


def newest_change(folder: Path) -> float:
    """The latest modification time of anything in a student's lab folder (the folder itself included)."""
    times = [folder.stat().st_mtime] if folder.exists() else [0.0]
    for path in folder.rglob("*") if folder.exists() else ():
        try:
            times.append(path.lstat().st_mtime)
        except OSError:
            continue
    return max(times)


def finished_report(student: Student, out: Path, key: bytes | None) -> tuple[dict[str, Any] | None, str]:
    """The report to keep when resuming, or None and why the student must be graded again."""
    path = out / "report.json"
    if not path.exists():
        return None, ""
    if path.stat().st_mtime <= newest_change(student.lab_dir):
        return None, "the lab folder changed after the last report"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return None, "the last report is not valid JSON"
    if key:
        check = verify(data, key)
        if not check.valid:
            return None, f"the last report failed verification ({check.describe()})"
    return data, ""


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if minutes else f"{sec}s"


class ClassRun:
    """Grades every student of a roster into ``out/students/<id>/`` and reports progress as it goes."""

    def __init__(self, students: Sequence[Student], out: Path, command: Sequence[str], *, regrade: bool = False,
                 timeout_s: float = 1800.0, progress: Callable[[str], None] = print, formats: Sequence[str] = (),
                 jobs: int = 1, engines: Sequence[str] = ()) -> None:
        self.students, self.out, self.command = list(students), out, list(command)
        self.regrade, self.timeout_s, self.progress, self.formats = regrade, timeout_s, progress, list(formats)
        # With several engines (DOCKER_HOST addresses) each grades one student at a time: as many jobs as engines.
        self.engines = list(engines)
        self.jobs = len(self.engines) or max(1, jobs)
        self._free: queue.Queue[str] = queue.Queue()
        for address in self.engines:
            self._free.put(address)
        self.key = os.environ.get(KEY_ENV, "").encode() or None
        self._said = threading.Lock()

    def folder(self, student: Student) -> Path:
        return self.out / "students" / student.slug

    def argv(self, student: Student) -> list[str]:
        """The student's own pytest command: the lab suite on their folder, their report and formats in their folder."""
        here = self.folder(student)
        args = [*self.command, "--lab-dir", str(student.lab_dir), "--lab-report", str(here / "report.json")]
        for spec in self.formats:
            name, _, path = spec.partition(":")
            args += ["--lab-format", f"{name}:{here / (path or DEFAULT_NAMES.get(name, name))}"]
        return args

    def run_all(self) -> list[Outcome]:
        """Every student, ``jobs`` at a time; the outcomes in the roster's order."""
        started = time.monotonic()
        done: list[Outcome] = []

        def one(index: int, student: Student) -> Outcome:
            engine = self._free.get() if self.engines else None
            try:
                outcome = self.run_one(student, instance=f"g{index + 1}" if self.jobs > 1 and not engine else None, engine=engine)
            finally:
                if engine:
                    self._free.put(engine)
            with self._said:
                done.append(outcome)
                graded = [o.seconds for o in done if o.status != "resumed"]
                left = len(self.students) - len(done)
                eta = sum(graded) / len(graded) * left / self.jobs if graded else 0.0
                self.progress(f"[{len(done)}/{len(self.students)}] {student.id}: {self.describe(outcome)} — elapsed "
                              f"{_duration(time.monotonic() - started)}" + (f", about {_duration(eta)} left" if left else ""))
            return outcome

        if self.jobs == 1:
            return [one(n, s) for n, s in enumerate(self.students)]
        order = self.order()
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="orchlab-grade") as pool:
            started_in_order = {n: pool.submit(one, n, self.students[n]) for n in order}
            futures = [started_in_order[n] for n in range(len(self.students))]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def order(self) -> list[int]:
        """Roster positions in the order to start them: students whose stack runs a healthcheck last.

        Such a stack keeps taking CPU while it is idle, so a Phase 1 sweep of another run waits until it is
        gone (the ``background`` turn); started last, these students do not hold up the others' sweeps.
        """
        checked = [declared_healthcheck(LabFolder.at(s.lab_dir)) is not None for s in self.students]
        if any(checked) and not all(checked):
            self.progress(f"orchlab: {sum(checked)} of {len(checked)} students' stacks run a healthcheck: they start last, "
                          "so that their stacks do not hold up the others' CPU sweeps")
        return sorted(range(len(self.students)), key=lambda n: checked[n])

    def describe(self, outcome: Outcome) -> str:
        if outcome.status == "crashed":
            return f"CRASHED ({outcome.reason})"
        assert outcome.report is not None
        score = outcome.report["score"]
        said = f"{score['earned']:g}/{score['possible']} points"
        return said + (" (already graded, kept)" if outcome.status == "resumed" else f" in {_duration(outcome.seconds)}")

    def run_one(self, student: Student, instance: str | None = None, engine: str | None = None) -> Outcome:
        here = self.folder(student)
        here.mkdir(parents=True, exist_ok=True)
        if not self.regrade:
            kept, why = finished_report(student, here, self.key)
            if kept is not None:
                return Outcome(student, "resumed", kept, folder=here)
            if why:
                self.progress(f"{student.id}: grading again: {why}")
        for stale in ("report.json", "crash.json"):
            (here / stale).unlink(missing_ok=True)
        begin = time.monotonic()
        code, reason = self._pytest(student, here, instance, engine)
        seconds = time.monotonic() - begin
        report_path = here / "report.json"
        if code in CLEAN_EXITS and report_path.exists():
            return Outcome(student, "graded", json.loads(report_path.read_text()), seconds, code, folder=here)
        if not reason:
            reason = f"pytest exited {code}" + ("" if report_path.exists() else " and wrote no report")
        tail = (here / "pytest.log").read_text(errors="replace").splitlines()[-LOG_TAIL:]
        crash = {"student": student.id, "lab_dir": str(student.lab_dir), "exit_code": code, "reason": reason,
                 "seconds": round(seconds, 1), "log_tail": tail}
        (here / "crash.json").write_text(json.dumps(crash, ensure_ascii=False, indent=2) + "\n")
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return Outcome(student, "crashed", report, seconds, code, reason, here)

    def _pytest(self, student: Student, here: Path, instance: str | None, engine: str | None = None) -> tuple[int | None, str]:
        """Run the student's pytest; on timeout, Ctrl-C it (the plugin cleans up) and then kill it."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if engine:
            env["DOCKER_HOST"] = engine  # this student's run, alone on that engine
        if instance:
            env["ORCHLAB_INSTANCE"] = instance  # own names and ports beside the other runs on this engine
        with (here / "pytest.log").open("w") as log:
            proc = subprocess.Popen(self.argv(student), cwd=here, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                return proc.wait(timeout=self.timeout_s), ""
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                return proc.returncode, f"timed out after {_duration(self.timeout_s)} and was interrupted"
            except BaseException:
                proc.send_signal(signal.SIGINT)  # the teacher's Ctrl-C: let this student's run clean up
                proc.wait(timeout=120)
                raise


DEFAULT_NAMES = {"gradescope": "gradescope-results.json", "classroom": "classroom-results.json",
                 "prairielearn": "prairielearn-results.json", "junit": "junit.xml", "markdown": "summary.md"}


def lab_command(suite: Path, extra: Sequence[str]) -> list[str]:
    """``python -m pytest <lab suite> -p no:cacheprovider [PYTEST_ARGS]`` with this interpreter."""
    return [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", *extra]
