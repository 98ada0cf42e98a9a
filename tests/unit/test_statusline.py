"""Progress on a terminal is one status after pytest's line, gone before pytest goes on; in a log, plain lines."""

from __future__ import annotations

from typing import Any

from pytest_orchlab.statusline import StatusLine


class Screen:
    """What a terminal shows: backspaces move back, characters overwrite."""

    def __init__(self, tty: bool) -> None:
        self.isatty, self.lines, self.cursor = tty, [""], 0

    def write(self, text: str, **markup: Any) -> None:
        for ch in text:
            line = self.lines[-1]
            if ch == "\b":
                self.cursor -= 1
            elif ch == "\n":
                self.lines.append("")
                self.cursor = 0
            else:
                self.lines[-1] = line[:self.cursor] + ch + line[self.cursor + 1:]
                self.cursor += 1

    def write_line(self, text: str, **markup: Any) -> None:
        if self.lines[-1]:
            self.write("\n")
        self.write(text + "\n")

    def flush(self) -> None:
        pass


class Config:
    def __init__(self, screen: Screen) -> None:
        self.pluginmanager = self
        self.screen = screen

    def get_plugin(self, name: str) -> Any:
        return self.screen if name == "terminalreporter" else None


def test_on_a_terminal_the_status_sits_after_pytests_line_and_goes_away(monkeypatch: Any) -> None:
    import os
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((120, 40)))
    screen = Screen(tty=True)
    status = StatusLine(Config(screen))  # type: ignore[arg-type]
    screen.write("checkpoints/test_phase1.py ..")
    status("orchlab: load 300 concurrent clients for 4 s ...")
    assert screen.lines == ["checkpoints/test_phase1.py .. ⏳ load 300 concurrent clients for 4 s ..."]
    status("orchlab: load 600 concurrent clients for 4 s ...")
    assert screen.lines[-1].rstrip() == "checkpoints/test_phase1.py .. ⏳ load 600 concurrent clients for 4 s ..."
    status.clear()
    screen.write(".")
    assert screen.lines[-1].rstrip() == "checkpoints/test_phase1.py ..."  # pytest's line as if nothing had been there


def test_in_a_log_progress_is_plain_lines() -> None:
    screen = Screen(tty=False)
    status = StatusLine(Config(screen))  # type: ignore[arg-type]
    screen.write("checkpoints/test_phase1.py ..")
    status("orchlab: load 300 concurrent clients for 4 s ...")
    assert screen.lines[:2] == ["checkpoints/test_phase1.py ..", "orchlab: load 300 concurrent clients for 4 s ..."]
