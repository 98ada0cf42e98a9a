"""Progress as pytest shows it: on a terminal, one live status after pytest's own progress line, erased before pytest
writes its next letter (so the file name is never printed twice); elsewhere (CI logs, pipes), plain lines. And the
checklist pytest's terminal summary ends with."""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

import pytest

from pytest_orchlab.state import LabState

MARK = " ⏳ "
PYTEST_PART = 48


class StatusLine:
    """``status(line)`` for the lab's progress; :meth:`clear` before anything else is written."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.shown = 0  # characters of our status currently on pytest's line

    def _terminal(self) -> Any:
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def _lifted(self) -> contextlib.AbstractContextManager[Any]:
        # Output capture holds fd 1 during a test; live lines need it lifted, as pytest-timeout does.
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        return capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()

    def __call__(self, line: str) -> None:
        terminal = self._terminal()  # looked up per call: the terminal reporter registers after the lab turns on
        if terminal is None:
            print(line, flush=True)
            return
        with self._lifted():
            if not terminal.isatty:
                terminal.write_line(line, cyan=True)
            else:
                self._erase(terminal)
                # pytest's own line (a file name and its letters) is kept to the first ~half of the terminal: the status
                # never wraps, so backspaces can take it back on any terminal.
                room = shutil.get_terminal_size((80, 24)).columns - PYTEST_PART - len(MARK)
                text = line.removeprefix("orchlab: ")
                text = text if len(text) <= room else text[: max(room - 1, 0)] + "…"
                if room > 8:
                    terminal.write(MARK + text, cyan=True)
                    self.shown = len(MARK) + len(text)
            terminal.flush()  # a progress line is only useful while the wait is still going

    def _erase(self, terminal: Any) -> None:
        if self.shown:
            terminal.write("\b" * self.shown + " " * self.shown + "\b" * self.shown)
            self.shown = 0

    def clear(self) -> None:
        """Take our status off pytest's line (before pytest writes its next letter, a section or the summary)."""
        terminal = self._terminal()
        if terminal is not None and self.shown:
            with self._lifted():
                self._erase(terminal)
                terminal.flush()


def checklist(terminalreporter: Any, state: LabState) -> None:
    """The closing section: the lab folder, a line per checkpoint, what was not run or left behind, what was written."""
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
