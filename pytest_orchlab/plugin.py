"""pytest glue: options, markers, outcomes, the checklist summary and the cleanup backstop."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import docker.errors
import pytest
import requests.exceptions

from . import fixtures
from .checklist import BY_ID
from .engine import Engine, leftovers, new_run_id
from .errors import LabInputError, NotGradable, OrchlabError, docker_failure
from .grading import Verdict
from .report import HINT_WORD, WORD, Report, Result
from .settings import Settings, add_options

OUTCOME_KEY = "orchlab_outcome"
CHECKPOINT_HELP = (
    "checkpoint(id, *, points=1, requires=()): a graded lab checklist item with a stable id; "
    "it is reported blocked when a required checkpoint did not pass."
)


@dataclass
class LabState:
    """Everything one pytest-orchlab session knows, kept in ``config.stash``."""

    settings: Settings
    report: Report
    run_id: str
    engine: Engine | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    blocked_by: dict[str, tuple[str, str]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    phase_spans: dict[int, list[float]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    progress: Callable[[str], None] = print
    previous_sigterm: Any = None


STATE = pytest.StashKey[LabState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    for phase, what in ((1, "single container"), (2, "Docker Swarm"), (3, "Kubernetes")):
        config.addinivalue_line("markers", f"phase{phase}: lab Phase {phase} ({what}) checkpoints")
    config.addinivalue_line("markers", CHECKPOINT_HELP)
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
    config.pluginmanager.register(fixtures, "orchlab-fixtures")
    # A terminated run (SIGTERM from CI or a teacher's script) cleans up like Ctrl-C does.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        state.previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.previous_sigterm is not None:
        signal.signal(signal.SIGTERM, state.previous_sigterm)


def _checkpoint(item: pytest.Item) -> tuple[str, int, tuple[str, ...]] | None:
    mark = item.get_closest_marker("checkpoint")
    if mark is None:
        return None
    if not mark.args or not isinstance(mark.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.checkpoint needs an id string first")
    return mark.args[0], int(mark.kwargs.get("points", 1)), tuple(mark.kwargs.get("requires", ()))


def _phase(item: pytest.Item, cid: str) -> int:
    for n in (1, 2, 3):
        if item.get_closest_marker(f"phase{n}"):
            return n
    return BY_ID[cid].phase if cid in BY_ID else 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    cp = _checkpoint(item)
    if cp is None:
        return
    state = item.config.stash[STATE]
    state.phase_spans.setdefault(_phase(item, cp[0]), [time.monotonic(), time.monotonic()])
    for required in cp[2]:
        before = state.report.results.get(required)
        if before is not None and before.outcome != "passed":
            root = state.blocked_by.get(required, (required, before.outcome))
            state.blocked_by[cp[0]] = root
            lang = state.settings.lang
            message = (f"{root[0]} 이(가) 통과하지 못했습니다 ({WORD[lang][root[1]]})" if lang == "ko"
                       else f"{root[0]} did not pass ({WORD[lang][root[1]]})")
            state.blocked[item.nodeid] = message
            pytest.skip(message)


def _classify(exc: BaseException, lang: str) -> tuple[str, str, str | None]:
    """(outcome, one-paragraph message, hint) for an exception raised by a checkpoint."""
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
    return "not-gradable", (
        f"pytest-orchlab 내부 오류 {type(exc).__name__}: {exc}" if lang == "ko"
        else f"pytest-orchlab internal error {type(exc).__name__}: {exc} (please report it)"
    ), None


def _paragraph(outcome: str, message: str, hint: str | None, lang: str) -> str:
    return message + (f"\n{HINT_WORD[lang][outcome == 'not-gradable']}: {hint}" if hint else "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    cp = _checkpoint(item)
    if cp is None:
        return report
    cid, points, _ = cp
    state = item.config.stash[STATE]
    state.durations[cid] = state.durations.get(cid, 0.0) + call.duration
    now = time.monotonic()
    state.phase_spans.setdefault(_phase(item, cid), [now, now])[1] = now
    if cid in state.report.results:
        state.report.results[cid].seconds = state.durations[cid]
    if call.when == "teardown":
        if report.failed and call.excinfo is not None:
            # A cleanup problem is reported as such; it does not take back what the checkpoint measured.
            state.report.cleanup.append(f"teardown after {cid}: {_classify(call.excinfo.value, state.settings.lang)[1]}")
        return report
    lang = state.settings.lang
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
    if verdict is not None:
        message = verdict.seen.render(lang) if outcome in ("passed", "failed") else message
        hint = verdict.hint.render(lang) if verdict.hint and outcome == "failed" else hint
        evidence = verdict.evidence
        if outcome == "failed":
            report.longrepr = _paragraph(outcome, message, hint, lang)
    if outcome is None:
        return report
    report.user_properties.append((OUTCOME_KEY, outcome))
    if hint and outcome == "failed":
        step = BY_ID[cid].step.render(lang) if cid in BY_ID else ""
        hint = f"{step} — {hint}" if step else hint
    state.report.results[cid] = Result(cid, _phase(item, cid), outcome, message, evidence, hint, points, state.durations[cid])
    return report


def pytest_report_teststatus(report: pytest.TestReport | pytest.CollectReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    outcome = dict(getattr(report, "user_properties", ())).get(OUTCOME_KEY)
    if outcome == "not-gradable":
        return "not gradable", "N", ("NOT GRADABLE", {"yellow": True})
    if outcome == "blocked":
        return "blocked", "B", ("BLOCKED", {"yellow": True})
    if outcome == "failed" and report.when == "setup":
        return "failed", "F", ("FAILED", {"red": True})
    return None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Backstop after every fixture has torn down: sweep this run's labels, then write the report."""
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    report = state.report
    if state.engine is not None:
        try:
            report.cleanup += state.engine.sweep(only_this_run=True)
            left = leftovers(state.engine.client, state.run_id)
            if left:
                report.cleanup.append("LEFT BEHIND: " + ", ".join(left))
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            report.cleanup.append(f"cleanup could not reach the engine: {exc}")
    for phase, (begin, end) in sorted(state.phase_spans.items()):
        report.timings[f"phase{phase}"] = end - begin
        floor = sum(float(r.evidence.get("engine_s") or 0) for r in report.results.values() if r.phase == phase)
        if floor:
            # What the engine itself needed (configured delays, grace periods, task starts), from its events.
            report.timings[f"phase{phase}_engine_floor"] = floor
    report.timings["session"] = time.monotonic() - state.started
    if state.settings.report:
        report.write(Path(state.settings.report))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.report.results:
        return
    lang = state.settings.lang
    terminalreporter.section("orchlab: 실습 체크리스트" if lang == "ko" else "orchlab: lab checklist")
    for line in state.report.checklist():
        terminalreporter.write_line(line)
    if any(c.startswith("LEFT BEHIND") for c in state.report.cleanup):
        terminalreporter.write_line("; ".join(state.report.cleanup), red=True)
    if state.settings.report:
        terminalreporter.write_line(f"report: {state.settings.report}")
