"""The lab session: its state, outcomes, order, summary and cleanup backstop.

Registered only once the lab is in use (see :func:`activate`); a pytest run of an unrelated project
never loads this module, so none of these hooks, signal handlers or fixtures touch it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_orchlab.core.errors import classified
from pytest_orchlab.core.signals import interrupts_clean_up
from pytest_orchlab.results.checklist import BY_ID
from pytest_orchlab.results.outcome import Happened, decide, lab_order
from pytest_orchlab.results.report import WORD, Report, Result
from pytest_orchlab.settings import Settings
from pytest_orchlab.state import STATE, LabState, checkpoint_of, placed
from pytest_orchlab.statusline import StatusLine, checklist

OUTCOME_KEY = "orchlab_outcome"


def _classify(exc: BaseException, lang: str) -> tuple[str, str, str | None]:
    """(outcome, one-paragraph message, hint) for an exception raised by a checkpoint."""
    if isinstance(exc, pytest.fail.Exception):
        return "failed", str(exc.msg), None
    return classified(exc, lang)


class LabSession:
    """The hooks of a lab run: outcomes (passed, failed, not gradable, blocked), order, summary, cleanup."""

    def __init__(self, config: pytest.Config, state: LabState, status: Any = None) -> None:
        self.config, self.state, self.status = config, state, status

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.status is not None:
            self.status.clear()  # before pytest writes the test's letter on the line our status sits on

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> Generator[None, None, None]:
        # After every other plugin (pytest-randomly shuffles, -k/-m deselect): the lab is a sequence.
        yield
        self._multinode_only(items)
        slots = [n for n, item in enumerate(items) if checkpoint_of(item) is not None]
        for n, item in zip(slots, lab_order([(placed(items[n]), items[n]) for n in slots]), strict=True):
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
        with interrupts_clean_up(sigterm=True):
            return (yield)

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
        if self.state.settings.prior:
            self._continue(Path(self.state.settings.prior))

    def _continue(self, path: Path) -> None:
        """``--lab-prior``: this session goes on from an earlier one of the same lab (the same files)."""
        import json

        try:
            earlier = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise pytest.UsageError(f"--lab-prior {path}: cannot read the earlier session's report ({exc})") from None
        here = self.state.lab_folder().digest
        if (earlier.get("submission") or {}).get("digest") not in (here, None):
            raise pytest.UsageError(f"--lab-prior {path}: the earlier session graded other files than this lab folder holds now")
        self.state.report.continue_from(earlier)

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
        raised = None
        if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
            raised = _classify(call.excinfo.value, lang)
        happened = Happened(call.when, state.blocked.get(item.nodeid), raised, report.passed)
        unselected = [r for r in cp.requires if r not in state.selected and r not in state.report.results]
        d = decide(happened, state.verdicts.get(item.nodeid), lang=lang, points=cp.points,
                   step=BY_ID[cp.id].step if cp.id in BY_ID else None, unselected=unselected)
        if d.outcome is None:
            return report
        if d.longrepr is not None:
            report.longrepr = d.longrepr
        if d.pytest_failed:
            report.outcome = "failed"
        report.user_properties.append((OUTCOME_KEY, d.outcome))
        state.report.results[cp.id] = Result(cp.id, cp.phase, d.outcome, d.message, d.evidence, d.hint, cp.points,
                                             state.durations[cp.id], title=cp.title, earned=d.earned)
        # pytest's --junitxml writes the item's properties with its teardown report: each testcase then carries
        # the checkpoint's own outcome (not gradable and blocked stay apart from failed and skipped) and points.
        item.user_properties[:] = [p for p in item.user_properties if not str(p[0]).startswith("orchlab_")]
        item.user_properties += [(OUTCOME_KEY, d.outcome), ("orchlab_id", cp.id), ("orchlab_points", cp.points),
                                 ("orchlab_earned", f"{d.earned:g}"), ("orchlab_message", d.message)]
        if d.hint:
            item.user_properties.append(("orchlab_hint", d.hint))
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
        state.close_timings()
        if state.busy_turn is not None:
            state.busy_turn.release()
            state.busy_turn = None
        try:
            self.write_results()
        finally:
            if state.run_lock is not None:
                state.run_lock.__exit__(None, None, None)  # the run's folder (its snapshot, its copies) goes with it
                state.run_lock = None

    def write_results(self) -> None:
        """The JSON report (signed when ``ORCHLAB_SIGNING_KEY`` is set) and the grader formats asked for."""
        import os

        from pytest_orchlab.results.formats import write_outputs

        state = self.state
        state.written += write_outputs(state.report, state.settings.report, state.settings.formats, dict(os.environ), state.settings.html)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.status is not None:
            self.status.clear()
        checklist(terminalreporter, self.state)


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

    progress = StatusLine(config)
    state.progress = progress
    config.pluginmanager.register(LabSession(config, state, progress), "orchlab-session")
    for name in fixtures.MODULES:
        if config.pluginmanager.get_plugin(name) is None:
            config.pluginmanager.register(importlib.import_module(name), name)
    return state
