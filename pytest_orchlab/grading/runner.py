"""One isolated lab run per student, in order, with progress, resume and crashes recorded.

Each student gets their own pytest process (own run id, own report, own cleanup), started exactly as
a student would start it, so a crash or a hung run of one student never touches the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_orchlab.core.runs import kubeconfig_path, run_folder
from pytest_orchlab.grading.capacity import next_to_start, phase2_cost, side_by_side_order
from pytest_orchlab.grading.labrun import run_lab
from pytest_orchlab.grading.roster import Student
from pytest_orchlab.results.signing import KEY_ENV, sign, verify
from pytest_orchlab.submission.healthcheck import declared_healthcheck
from pytest_orchlab.submission.snapshot import take

CLEAN_EXITS = (0, 1)  # pytest: all passed / some failed; anything else is a crashed run
LOG_TAIL = 12
# What a student's run gets of the grader's environment; the rest (the signing key, tokens, KUBECONFIG ...) stays here.
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH",
              "XDG_STATE_HOME", "SYSTEMROOT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
KEPT_PREFIXES = ("ORCHLAB_", "COVERAGE_")


def student_env(engine: str | None, instance: str | None) -> dict[str, str]:
    """A student's run's whole environment: what pytest and the Docker SDK need, ``ORCHLAB_*`` settings, never the
    signing key (``orchlab grade`` signs each report itself after the run) and no docker context or kubeconfig."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV or (k.startswith(KEPT_PREFIXES) and k != KEY_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    from pytest_orchlab.docker.engine import resolve_address

    env["DOCKER_HOST"] = engine or resolve_address()[0]  # resolved once here: every student's run on the same engine
    if instance:
        env["ORCHLAB_INSTANCE"] = instance  # own names and ports beside the other runs on this engine
    return env


@dataclass
class Outcome:
    """What happened to one student: graded (with the report), skipped as already graded, or crashed."""

    student: Student
    status: str  # graded | resumed | crashed, or failed | not-gradable when the class intake found no lab or two
    report: dict[str, Any] | None = None
    seconds: float = 0.0
    exit_code: int | None = None
    reason: str = ""
    folder: Path = field(default_factory=Path)


def finished_report(student: Student, out: Path, key: bytes | None) -> tuple[dict[str, Any] | None, str]:
    """The report to keep when resuming, or None and why the student must be graded again.

    Kept only when it is this student's (its ``student``), of these very files (its snapshot's digest against the
    gate's digest of the folder now) and, with a signing key, exactly as it was signed.
    """
    path = out / "report.json"
    if not path.exists():
        return None, ""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return None, "the last report is not valid JSON"
    if key:
        check = verify(data, key)
        if not check.valid:
            return None, f"the last report failed verification ({check.describe()})"
    if data.get("student") != student.id:
        return None, f"the last report is not this student's (it names {data.get('student')!r})"
    if (data.get("submission") or {}).get("digest") != take(student.lab_dir).digest:
        return None, "the lab folder changed after the last report"
    return data, ""


def seal(path: Path, student: Student, key: bytes | None) -> dict[str, Any]:
    """The student's report with their id added, signed with the course key when there is one (here, after the run:
    the key never reaches the student's run)."""
    data: dict[str, Any] = json.loads(path.read_text())
    data["student"], data["student_folder"] = student.id, student.slug
    if key:
        data = sign(data, key)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    from pytest_orchlab.results.html import render

    (path.parent / "report.html").write_text(render(data), encoding="utf-8")  # what the student saw, drawn
    return data


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if minutes else f"{sec}s"


def split_selection(args: Sequence[str]) -> tuple[list[str], str | None]:
    """The pytest arguments without their ``-m`` expression, and that expression (None when there is none)."""
    rest, expr, it = [], None, iter(list(args))
    for arg in it:
        if arg in ("-m", "--markexpr"):
            expr = next(it, None)
        elif arg.startswith("--markexpr="):
            expr = arg.split("=", 1)[1]
        elif arg.startswith("-m") and len(arg) > 2:
            expr = arg[2:]
        else:
            rest.append(arg)
    return rest, expr


def stage_selections(expr: str | None) -> tuple[str, str]:
    """``-m`` of the two sessions of a scheduled run: the selection's Phase 1, and the rest of it."""
    return (f"({expr}) and phase1", f"({expr}) and not phase1") if expr else ("phase1", "not phase1")


NO_TESTS = 5  # pytest: nothing collected (the selection holds no checkpoint of that session)


class ClassRun:
    """Grades every student of a roster into ``out/students/<id>/`` and reports progress as it goes."""

    def __init__(self, students: Sequence[Student], out: Path, command: Sequence[str], *, regrade: bool = False,
                 timeout_s: float = 1800.0, progress: Callable[[str], None] = print, formats: Sequence[str] = (),
                 jobs: int = 1, engines: Sequence[str] = (), run_id: str = "",
                 stage_two: Callable[[], contextlib.AbstractContextManager[object]] | None = None, budget: float | None = None) -> None:
        self.students, self.out, self.command = list(students), out, list(command)
        self.regrade, self.timeout_s, self.progress, self.formats = regrade, timeout_s, progress, list(formats)
        # With several engines (DOCKER_HOST addresses) each grades one student at a time: as many jobs as engines.
        self.engines = list(engines)
        self.jobs = len(self.engines) or max(1, jobs)
        self._free: queue.Queue[str] = queue.Queue()
        for address in self.engines:
            self._free.put(address)
        self.key = os.environ.get(KEY_ENV, "").encode() or None
        from pytest_orchlab.docker.engine import new_run_id

        self.run_id = run_id or new_run_id()  # the grading run's own (its folder holds the students' snapshots for scheduling)
        self._said = threading.Lock()
        # Several students on one engine: every Phase 1 (whose CPU sweep needs the machine alone) first, one sweep after
        # another, then the wait-bound rest side by side (stage_two, e.g. the shared swarm, around it).
        self.scheduled = self.jobs > 1 and not self.engines
        self.stage_two = stage_two
        self.budget = budget  # `--jobs auto`: % of a core the rest of the labs may use side by side (capacity.py)
        self._checked: list[bool] | None = None
        self._said_order = False
        self.schedule: dict[str, dict[str, Any]] = {}
        self._began = time.monotonic()

    def folder(self, student: Student) -> Path:
        return self.out / "students" / student.slug

    def argv(self, student: Student, stage: str | None = None) -> list[str]:
        """The student's own pytest command: the lab suite on their folder, their report and formats in their folder.

        Phase 3's manifests go only to the orchlab cluster unless the teacher names a cluster (``--kubeconfig`` or
        ``--kube-context`` after ``--``): never to whatever the teacher's current kubeconfig context is.
        """
        here = self.folder(student)
        command = self.command
        if stage is not None:  # one of the two sessions of a scheduled run: the selection split at Phase 1
            head = 3 if self.command[1:3] == ["-m", "pytest"] else 1  # `python -m pytest`: its -m is not a selection
            base, expr = split_selection(self.command[head:])
            command = [*self.command[:head], *base, "-m", stage_selections(expr)[stage == "rest"]]
        report = here / ("phase1.json" if stage == "phase1" else "report.json")
        args = [*command, "--lab-dir", str(student.lab_dir), "--lab-report", str(report)]
        if not any(a.startswith(("--kubeconfig", "--kube-context")) for a in self.command):
            args += ["--kubeconfig", str(kubeconfig_path())]
        if stage == "rest" and (here / "phase1.json").exists():
            args += ["--lab-prior", str(here / "phase1.json")]
        if stage == "phase1":
            return args
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
                # Every graded run is an instance: names of its own, so it never adopts a stack or deployment it did not make.
                outcome = self.run_one(student, instance=f"g{index + 1}", engine=engine)
            finally:
                if engine:
                    self._free.put(engine)
            return told(student, outcome)

        def told(student: Student, outcome: Outcome) -> Outcome:
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
        if self.scheduled:
            return self._scheduled(one, told)
        return [o for o in self._pool(one, self.order()) if o is not None]

    def _pool(self, work: Callable[[int, Student], Outcome | None], order: Sequence[int]) -> list[Outcome | None]:
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="orchlab-grade") as pool:
            started_in_order = {n: pool.submit(work, n, self.students[n]) for n in order}
            futures = [started_in_order[n] for n in range(len(self.students))]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _scheduled(self, finish: Callable[[int, Student], Outcome], told: Callable[[Student, Outcome], Outcome]) -> list[Outcome]:
        """Stage 1: each student's Phase 1, ``jobs`` at a time (their sweeps take the machine one after another, with
        nothing of Phase 2 on it). Stage 2: the rest of each student's lab, side by side, continuing that session."""
        early: dict[int, Outcome] = {}
        unbuilt: set[int] = set()

        def phase1(n: int, student: Student) -> Outcome | None:
            here = self.folder(student)
            here.mkdir(parents=True, exist_ok=True)
            self.schedule[student.id] = {"queued_s": 0.0}
            if not self.regrade:
                kept, why = finished_report(student, here, self.key)
                if kept is not None:
                    early[n] = Outcome(student, "resumed", kept, folder=here)
                    return None
                if why:
                    self.progress(f"{student.id}: grading again: {why}")
            for stale in ("report.json", "crash.json", "phase1.json"):
                (here / stale).unlink(missing_ok=True)
            began = time.monotonic()
            done = run_lab(self.argv(student, "phase1"), here, student_env(None, f"g{n + 1}"), self.timeout_s, log_name="phase1.log")
            self.schedule[student.id]["phase1_s"] = [round(began - self._began, 1), round(time.monotonic() - self._began, 1)]
            checkpoints = (done.report or {}).get("checkpoints", [])
            if any(c["id"] == "p1-image-builds" and c["outcome"] != "passed" for c in checkpoints):
                unbuilt.add(n)  # every Phase 2 checkpoint will be blocked: that session costs the machine nothing
            sweep = next((c for c in checkpoints if c["id"] == "p1-cpu-saturation"), None)
            if sweep is not None:
                self.schedule[student.id]["sweep_s"] = round(float(sweep.get("seconds") or 0), 1)
                self.schedule[student.id]["sweep_waited_s"] = (sweep.get("evidence") or {}).get("waited_for_machine_s", 0.0)
            if done.exit_code not in (*CLEAN_EXITS, NO_TESTS) or (done.exit_code != NO_TESTS and done.report is None):
                early[n] = self._crashed(student, here, done.exit_code, done.reason or f"its Phase 1 session exited {done.exit_code}",
                                         time.monotonic() - began, log="phase1.log")
            return None

        self._pool(phase1, self.order())
        with self.stage_two() if self.stage_two is not None else contextlib.nullcontext():
            def rest(n: int, student: Student) -> Outcome:
                return told(student, early[n]) if n in early else finish(n, student)

            if self.budget is None:
                outcomes = self._pool(rest, self.order())
            else:
                costs = {n: 0.0 if n in early else phase2_cost(self.healthchecks()[n], n not in unbuilt) for n in range(len(self.students))}
                outcomes = self._side_by_side(rest, costs, self.budget)
        return [o for o in outcomes if o is not None]

    def _side_by_side(self, work: Callable[[int, Student], Outcome], costs: dict[int, float], limit: float) -> list[Outcome | None]:
        """Stage 2 under ``--jobs auto``: a student starts when one of ``jobs`` slots is free and their lab's cost fits
        beside what runs (``capacity.next_to_start``); ``phase2_waited_s``: from the stage's start to theirs."""
        pending, began = side_by_side_order(range(len(self.students)), costs), time.monotonic()
        results: dict[int, Outcome | None] = {}
        running: dict[Future[Outcome], int] = {}
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="orchlab-grade") as pool:
            try:
                while pending or running:
                    pick = next_to_start(pending, costs, [costs[n] for n in running.values()], limit, self.jobs)
                    if pick is not None:
                        pending.remove(pick)
                        self.schedule.setdefault(self.students[pick].id, {})["phase2_waited_s"] = round(time.monotonic() - began, 1)
                        running[pool.submit(work, pick, self.students[pick])] = pick
                        continue
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for f in done:
                        results[running.pop(f)] = f.result()
            except BaseException:
                for f in running:
                    f.cancel()
                raise
        return [results[n] for n in range(len(self.students))]

    def order(self) -> list[int]:
        """Roster positions in the order to start them: students whose stack runs a healthcheck last.

        Such a stack keeps taking CPU while it is idle, so a Phase 1 sweep of another run waits until it is
        gone (the ``background`` turn); started last, these students do not hold up the others' sweeps.
        """
        checked = self.healthchecks()
        if any(checked) and not all(checked) and not self._said_order:
            self._said_order = True
            self.progress(f"orchlab: {sum(checked)} of {len(checked)} students' stacks run a healthcheck: they start last, "
                          "so that their stacks do not hold up the others' CPU sweeps")
        return sorted(range(len(self.students)), key=lambda n: checked[n])

    def healthchecks(self) -> list[bool]:
        """Per student of the roster: does their stack run a healthcheck (read once)."""
        if self._checked is None:
            self._checked = [self._healthcheck(s) for s in self.students]
        return self._checked

    def _healthcheck(self, student: Student) -> bool:
        """Read through the gate, as the student's run will read it (into this grading run's own folder)."""
        import tempfile

        sub = take(student.lab_dir)
        with tempfile.TemporaryDirectory(dir=run_folder(self.run_id)) as tmp:
            return declared_healthcheck(sub.write(Path(tmp) / "lab")) is not None

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
        if not self.scheduled:
            for stale in ("report.json", "crash.json"):
                (here / stale).unlink(missing_ok=True)
        begin = time.monotonic()
        stage = "rest" if self.scheduled else None
        done = run_lab(self.argv(student, stage), here, student_env(engine, instance), self.timeout_s)
        code, reason = done.exit_code, done.reason
        if stage is not None:
            self.schedule.setdefault(student.id, {})["phase2_s"] = [round(begin - self._began, 1), round(time.monotonic() - self._began, 1)]
            if code == NO_TESTS and (here / "phase1.json").exists():  # the selection was Phase 1 only: that session is the lab
                (here / "report.json").write_bytes((here / "phase1.json").read_bytes())
                code = 0 if all(c["outcome"] == "passed" for c in json.loads((here / "phase1.json").read_text())["checkpoints"]) else 1
        seconds = time.monotonic() - begin + sum(x[1] - x[0] for k, x in self.schedule.get(student.id, {}).items() if k == "phase1_s")
        report_path = here / "report.json"
        report = seal(report_path, student, self.key) if report_path.exists() else None
        if code in CLEAN_EXITS and report is not None:
            return Outcome(student, "graded", report, seconds, code, folder=here)
        return self._crashed(student, here, code, reason, seconds)

    def _crashed(self, student: Student, here: Path, code: int | None, reason: str, seconds: float, log: str = "pytest.log") -> Outcome:
        report_path = here / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        if not reason:
            reason = f"pytest exited {code}" + ("" if report_path.exists() else " and wrote no report")
        tail = (here / log).read_text(errors="replace").splitlines()[-LOG_TAIL:] if (here / log).exists() else []
        crash = {"student": student.id, "lab_dir": str(student.lab_dir), "exit_code": code, "reason": reason,
                 "seconds": round(seconds, 1), "log_tail": tail}
        (here / "crash.json").write_text(json.dumps(crash, ensure_ascii=False, indent=2) + "\n")
        return Outcome(student, "crashed", report, seconds, code, reason, here)



DEFAULT_NAMES = {"gradescope": "gradescope-results.json", "classroom": "classroom-results.json",
                 "prairielearn": "prairielearn-results.json", "junit": "junit.xml", "markdown": "summary.md"}
