"""The lab session: its state, outcomes, order, summary and cleanup backstop.

Registered only once the lab is in use (see :func:`activate`); a pytest run of an unrelated project
never loads this module, so none of these hooks, signal handlers or fixtures touch it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pytest_orchlab.core.errors import LabInputError, NotGradable, OrchlabError, docker_failure
from pytest_orchlab.results.checklist import BY_ID
from pytest_orchlab.results.report import HINT_WORD, WORD, Report, Result
from pytest_orchlab.results.verdict import Verdict
from pytest_orchlab.settings import Settings

OUTCOME_KEY = "orchlab_outcome"
NO_VERDICT = ("이 체크포인트는 측정 결과(판정)를 기록하지 않았습니다: 증거 없이 통과시킬 수 없습니다.",
              "this checkpoint recorded no measurement (no verdict), and a pass needs evidence.")


@dataclass(frozen=True)
class Checkpoint:
    """What ``@pytest.mark.checkpoint(id, *, points=1, requires=(), phase=None, title=None)`` declares."""

    id: str
    points: int
    requires: tuple[str, ...]
    phase: int
    title: str | None


@dataclass
class LabState:
    """Everything one pytest-orchlab session knows, kept in ``config.stash``."""

    settings: Settings
    report: Report
    run_id: str
    engine: Any = None  # the host pytest_orchlab.docker.engine.Engine once a checkpoint connected: swept at the end
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    blocked_by: dict[str, tuple[str, str]] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    phase_spans: dict[int, list[float]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    progress: Callable[[str], None] = print
    written: list[str] = field(default_factory=list)
    background: list[Any] = field(default_factory=list)  # running load with pause() and resume(): steady probes
    multinode_deselected: int = 0  # phase2x checkpoints left out: the run has no --swarm-nodes
    busy_turn: Any = None  # the shared `background` TurnLock, held from Phase 2 on when the lab's stack runs a healthcheck
    busy_checked: bool = False
    lab: Any = None  # the gate's snapshot of the student's folder (a LabFolder), taken once on first use
    run_lock: Any = None  # the RunLock held from session start to finish: this run is alive while it is held

    def lab_folder(self) -> Any:
        """The student's lab folder, read once through the intake gate into the run's own folder."""
        if self.lab is None:
            from pytest_orchlab.submission.intake import snapshot

            self.lab, self.report.submission = snapshot(self.settings.lab_dir, self.run_id)
        return self.lab

    @contextlib.contextmanager
    def background_paused(self) -> Iterator[None]:
        """Pause every background load of this run for the block (another run measures CPU meanwhile)."""
        paused = list(self.background)
        for load in paused:
            load.pause()
        try:
            yield
        finally:
            for load in paused:
                load.resume()


STATE = pytest.StashKey[LabState]()


def checkpoint_of(item: pytest.Item) -> Checkpoint | None:
    """The item's checkpoint declaration, validated (a bad one is a usage error naming the test)."""
    mark = item.get_closest_marker("checkpoint")
    if mark is None:
        return None
    if not mark.args or not isinstance(mark.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.checkpoint needs an id string first")
    cid = mark.args[0]
    unknown = set(mark.kwargs) - {"points", "requires", "phase", "title"}
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.checkpoint({cid!r}) has unknown arguments {sorted(unknown)}")
    phase = next((n for n in (1, 2, 3) if item.get_closest_marker(f"phase{n}")), None)
    phase = phase or mark.kwargs.get("phase") or (BY_ID[cid].phase if cid in BY_ID else 0)
    doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines() if hasattr(item, "obj") else []
    return Checkpoint(cid, int(mark.kwargs.get("points", 1)), tuple(mark.kwargs.get("requires", ())), int(phase),
                      mark.kwargs.get("title") or (doc[0] if doc else None))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _classify(exc: BaseException, lang: str) -> tuple[str, str, str | None]:
    """(outcome, one-paragraph message, hint) for an exception raised by a checkpoint."""
    import docker.errors
    import requests.exceptions

    if isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):
        exc = docker_failure(exc)
    if isinstance(exc, NotGradable):
        return "not-gradable", exc.text.render(lang), exc.fix.render(lang) if exc.fix else None
    if isinstance(exc, LabInputError):
        return "failed", exc.text.render(lang), exc.fix.render(lang) if exc.fix else None
    if isinstance(exc, OrchlabError):
        return "failed", exc.render(lang), None
    if isinstance(exc, pytest.fail.Exception):
        return "failed", str(exc.msg), None
    if isinstance(exc, AssertionError):
        said = str(exc).strip() or ("assert 가 실패했습니다" if lang == "ko" else "an assert failed")
        return "failed", said, None
    return "not-gradable", (
        f"pytest-orchlab 내부 오류 {type(exc).__name__}: {exc}" if lang == "ko"
        else f"pytest-orchlab internal error {type(exc).__name__}: {exc} (please report it)"
    ), None


def _paragraph(outcome: str, message: str, hint: str | None, lang: str) -> str:
    return message + (f"\n{HINT_WORD[lang][outcome == 'not-gradable']}: {hint}" if hint else "")


def _lab_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Checkpoints in the lab's order: by phase, file and line, then every ``requires`` before its dependant."""
    def key(item: pytest.Item) -> tuple[int, str, int]:
        cp = checkpoint_of(item)
        assert cp is not None
        _, line, _ = item.reportinfo()
        return (cp.phase or 99, str(item.path), line or 0)

    pending = sorted(items, key=key)
    ids = {checkpoint_of(i).id for i in pending}  # type: ignore[union-attr]
    placed: list[pytest.Item] = []
    done: set[str] = set()
    while pending:
        ready = next((i for i in pending if set(checkpoint_of(i).requires) & ids <= done), pending[0])  # type: ignore[union-attr]
        pending.remove(ready)
        placed.append(ready)
        done.add(checkpoint_of(ready).id)  # type: ignore[union-attr]
    return placed


class LabSession:
    """The hooks of a lab run: outcomes (passed, failed, not gradable, blocked), order, summary, cleanup."""

    def __init__(self, config: pytest.Config, state: LabState) -> None:
        self.config, self.state = config, state

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> Generator[None, None, None]:
        # After every other plugin (pytest-randomly shuffles, -k/-m deselect): the lab is a sequence.
        yield
        self._multinode_only(items)
        slots = [n for n, item in enumerate(items) if checkpoint_of(item) is not None]
        for n, item in zip(slots, _lab_order([items[n] for n in slots]), strict=True):
            items[n] = item
        self.state.selected = {checkpoint_of(items[n]).id for n in slots}  # type: ignore[union-attr]

    def _multinode_only(self, items: list[pytest.Item]) -> None:
        """phase2x needs several nodes: without ``--swarm-nodes`` it is deselected (said in the summary), unless
        ``-m`` names it, when it runs and says how to make the nodes."""
        if self.state.settings.swarm_nodes > 1 or "phase2x" in (self.config.getoption("markexpr", "") or ""):
            return
        dropped = [item for item in items if item.get_closest_marker("phase2x")]
        if dropped:
            items[:] = [item for item in items if not item.get_closest_marker("phase2x")]
            self.config.hook.pytest_deselected(items=dropped)
            self.state.multinode_deselected = len(dropped)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # A terminated run (SIGTERM from CI or a teacher's script) cleans up as Ctrl-C does, but only while
        # the lab runs: the handler is put back before anything else of pytest's ends.
        # A run started in the background of a script inherits SIGINT ignored; a teacher's Ctrl-C (or orchlab grade
        # stopping a student's run) must still clean up, so SIGINT raises KeyboardInterrupt while the lab runs.
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_interrupt)
            if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
                previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return (yield)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
        # Every experiment shares the machine's `cpu` turn; Phase 1's saturation sweep takes it alone, so
        # with `orchlab grade --jobs` (or two terminals) no other run's traffic or rollout skews its CPU.
        if checkpoint_of(item) is None or "orchlab_saturation" in getattr(item, "fixturenames", ()):
            return (yield)
        from pytest_orchlab.core.runs import experiment_turn

        cp = checkpoint_of(item)
        if cp is not None and cp.phase >= 2:
            self._declare_background()  # before the `cpu` turn: a sweep takes `background` first, then `cpu`
        with experiment_turn(self.state.progress, self.state.background_paused):
            return (yield)

    def _declare_background(self) -> None:
        """From Phase 2 on, a lab whose stack runs a healthcheck holds the shared ``background`` turn until the
        run ends: its idle tasks still take CPU, so another run's saturation sweep waits for them to be gone."""
        state = self.state
        if state.busy_checked:
            return
        state.busy_checked = True
        from pytest_orchlab.core.runs import busy_background
        from pytest_orchlab.submission.healthcheck import declared_healthcheck

        where = declared_healthcheck(state.lab_folder())
        if where is not None:
            state.busy_turn = busy_background(state.progress, where)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The run is alive from here (its lock is held) to the end of :meth:`pytest_sessionfinish`."""
        from pytest_orchlab.core.runs import RunLock

        self.state.run_lock = RunLock(self.state.run_id).__enter__()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        cp = checkpoint_of(item)
        if cp is None:
            return
        state = self.state
        state.phase_spans.setdefault(cp.phase, [time.monotonic(), time.monotonic()])
        for required in cp.requires:
            before = state.report.results.get(required)
            if before is not None and before.outcome != "passed":
                root = state.blocked_by.get(required, (required, before.outcome))
                state.blocked_by[cp.id] = root
                lang = state.settings.lang
                message = (f"{root[0]} 이(가) 통과하지 못했습니다 ({WORD[lang][root[1]]})" if lang == "ko"
                           else f"{root[0]} did not pass ({WORD[lang][root[1]]})")
                state.blocked[item.nodeid] = message
                pytest.skip(message)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        cp = checkpoint_of(item)
        if cp is None:
            return report
        state, lang = self.state, self.state.settings.lang
        state.durations[cp.id] = state.durations.get(cp.id, 0.0) + call.duration
        now = time.monotonic()
        state.phase_spans.setdefault(cp.phase, [now, now])[1] = now
        if cp.id in state.report.results:
            state.report.results[cp.id].seconds = state.durations[cp.id]
        if call.when == "teardown":
            if report.failed and call.excinfo is not None:
                # A cleanup problem is reported as such; it does not take back what the checkpoint measured.
                state.report.cleanup.append(f"teardown after {cp.id}: {_classify(call.excinfo.value, lang)[1]}")
            return report
        verdict = state.verdicts.get(item.nodeid)
        outcome: str | None = None
        message, hint, evidence = "", None, {}
        if item.nodeid in state.blocked and call.when == "setup":
            outcome, message = "blocked", state.blocked[item.nodeid]
        elif call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
            outcome, message, hint = _classify(call.excinfo.value, lang)
            if not (outcome == "not-gradable" and message.startswith("pytest-orchlab internal")):
                report.longrepr = _paragraph(outcome, message, hint, lang)
        elif call.when == "call" and report.passed:
            outcome = "passed"
            if verdict is None:
                # No verdict, no pass: a test that ends without grading measured nothing we can show.
                outcome, message = "not-gradable", NO_VERDICT[lang == "en"]
                hint = ("체크포인트 안에서 orchlab_grade(Verdict(...)) 로 측정값을 기록하세요."
                        if lang == "ko" else "record the measured value with orchlab_grade(Verdict(...)) inside the checkpoint.")
                report.outcome, report.longrepr = "failed", _paragraph(outcome, message, hint, lang)
        if verdict is not None:
            if outcome in ("passed", "failed") or (outcome == "not-gradable" and not verdict.gradable):
                message = verdict.seen.render(lang)
            if verdict.hint and (outcome == "failed" or not verdict.gradable):
                hint = verdict.hint.render(lang)
            evidence = dict(verdict.evidence)
            if outcome in ("failed", "not-gradable"):
                report.longrepr = _paragraph(outcome, message, hint, lang)
        if outcome is None:
            return report
        missing = [r for r in cp.requires if r not in state.selected and r not in state.report.results]
        if missing:
            evidence["prerequisites_not_selected"] = missing
        report.user_properties.append((OUTCOME_KEY, outcome))
        if hint and outcome == "failed":
            step = BY_ID[cp.id].step.render(lang) if cp.id in BY_ID else ""
            hint = f"{step} — {hint}" if step else hint
        credit = verdict.credit if verdict is not None and outcome == "passed" else 1.0
        earned = cp.points * credit if outcome == "passed" else 0
        state.report.results[cp.id] = Result(cp.id, cp.phase, outcome, message, evidence, hint, cp.points,
                                             state.durations[cp.id], title=cp.title, earned=earned)
        # pytest's --junitxml writes the item's properties with its teardown report: each testcase then carries
        # the checkpoint's own outcome (not gradable and blocked stay apart from failed and skipped) and points.
        item.user_properties[:] = [p for p in item.user_properties if not str(p[0]).startswith("orchlab_")]
        item.user_properties += [(OUTCOME_KEY, outcome), ("orchlab_id", cp.id), ("orchlab_points", cp.points),
                                 ("orchlab_earned", f"{earned:g}"), ("orchlab_message", message)]
        if hint:
            item.user_properties.append(("orchlab_hint", hint))
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport | pytest.CollectReport) -> tuple[str, str, Any] | None:
        if getattr(report, "when", None) == "teardown":
            return None  # the teardown report carries the item's properties too; it is not another outcome
        outcome = dict(getattr(report, "user_properties", ())).get(OUTCOME_KEY)
        if outcome == "not-gradable":
            return "not gradable", "N", ("NOT GRADABLE", {"yellow": True})
        if outcome == "blocked":
            return "blocked", "B", ("BLOCKED", {"yellow": True})
        if outcome == "failed" and report.when == "setup":
            return "failed", "F", ("FAILED", {"red": True})
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Backstop after every fixture has torn down: sweep this run's labels, then write the report."""
        state = self.state
        report = state.report
        if state.engine is not None:
            from pytest_orchlab.docker.sweep import leftovers, sweep

            try:
                report.cleanup += sweep(state.engine.client, lambda run: run == state.run_id).lines()
                left = leftovers(state.engine.client, state.run_id)
                if left:
                    report.cleanup.append("LEFT BEHIND: " + ", ".join(left))
            except Exception as exc:  # noqa: BLE001 - the report must still be written
                report.cleanup.append(f"cleanup could not reach the engine: {exc}")
        for phase, (begin, end) in sorted(state.phase_spans.items()):
            report.timings[f"phase{phase}"] = end - begin
            floor = sum(float(r.evidence.get("engine_s") or 0) for r in report.results.values() if r.phase == phase)
            if floor:
                # What the engine itself needed (configured delays, grace periods, task starts), from its events.
                report.timings[f"phase{phase}_engine_floor"] = floor
        if state.busy_turn is not None:
            state.busy_turn.release()
            state.busy_turn = None
        report.timings["session"] = time.monotonic() - state.started
        report.finished = time.time()
        try:
            self.write_results()
        finally:
            if state.run_lock is not None:
                state.run_lock.__exit__(None, None, None)  # the run's folder (its snapshot, its copies) goes with it
                state.run_lock = None

    def write_results(self) -> None:
        """The JSON report (signed when ``ORCHLAB_SIGNING_KEY`` is set) and the grader formats asked for."""
        import json
        import os

        from pytest_orchlab.results import formats
        from pytest_orchlab.results.signing import KEY_ENV

        state = self.state
        key = os.environ.get(KEY_ENV, "").encode() or None
        data = json.loads(json.dumps(state.report.to_json(), ensure_ascii=False, default=str))
        if state.settings.report:
            data = state.report.write(Path(state.settings.report), key)
        for name, path in state.settings.formats:
            if name == "junit":
                continue  # pytest's junitxml writes it, with the properties added above
            try:
                state.written.append(f"{name}: {formats.write(name, path, data, dict(os.environ))}")
            except OSError as exc:
                state.written.append(f"{name}: could not write it: {exc}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        state = self.state
        if not state.report.results:
            return
        lang = state.settings.lang
        terminalreporter.section("orchlab: 실습 체크리스트" if lang == "ko" else "orchlab: lab checklist")
        where = state.lab.shown if state.lab is not None else state.settings.lab_dir
        how = state.settings.sources.get("lab_dir", "")
        terminalreporter.write_line(f"{'실습 폴더' if lang == 'ko' else 'lab folder'}: {where} ({how})")
        for line in state.report.checklist():
            terminalreporter.write_line(line)
        if state.multinode_deselected:
            n = state.multinode_deselected
            terminalreporter.write_line(f"phase2x: 다중 노드 체크포인트 {n}개는 실행하지 않았습니다 (--swarm-nodes 3 이 필요)" if lang == "ko"
                                        else f"phase2x: {n} multi-node checkpoint(s) not run (they need --swarm-nodes 3)")
        if any(c.startswith(("LEFT BEHIND", "could not remove")) for c in state.report.cleanup):
            terminalreporter.write_line("; ".join(state.report.cleanup), red=True)
        if state.settings.report:
            terminalreporter.write_line(f"report: {state.settings.report}")
        for line in state.written:
            terminalreporter.write_line(line)


def activate(config: pytest.Config) -> LabState:
    """Turn the lab on for this pytest run (idempotent): settings, state, hooks and ``orchlab_*`` fixtures."""
    state = config.stash.get(STATE, None)
    if state is not None:
        return state
    if not hasattr(config.option, "lab_dir"):
        raise pytest.UsageError("the lab's checkpoints were collected, but the pytest-orchlab plugin is disabled (-p no:orchlab)")
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") != "no" or hasattr(config, "workerinput"):
        raise pytest.UsageError(
            "pytest-orchlab runs the lab in one process: its experiments share one engine (one web-app on 8080, "
            "one webapp stack) and the CPU measurement needs a quiet machine. Run it without -n/--dist "
            "(pytest-xdist); to grade many students at once, give each run its own engine.")
    from pytest_orchlab import fixtures
    from pytest_orchlab.docker.engine import new_run_id

    settings = Settings.from_config(config)
    run_id = new_run_id()
    state = LabState(settings, Report(run_id, settings.lang, settings.lab_dir), run_id)
    config.stash[STATE] = state

    def progress(line: str) -> None:
        # Looked up per call: the terminal reporter registers after this hook may have run.
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None:
            print(line, flush=True)
            return
        # Output capture holds fd 1 during a test; live lines need it lifted, as pytest-timeout does.
        capman = config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            terminal.write_line(line, cyan=True)
            terminal.flush()  # a progress line is only useful while the wait is still going

    state.progress = progress
    config.pluginmanager.register(LabSession(config, state), "orchlab-session")
    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, fixtures.__name__)
    return state
