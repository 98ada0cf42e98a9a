"""One lab run in a pytest process of its own, as ``orchlab grade`` and ``orchlab matrix`` start them.

Timeout → SIGINT (the plugin cleans up as after Ctrl-C) → after a grace period SIGKILL of the whole process group;
the caller's own Ctrl-C is passed on the same way. The log is the run's ``pytest.log``; its report is read back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GRACE_S = 120.0  # how long an interrupted run may take to clean up before it is killed
LOG_TAIL = 12


@dataclass(frozen=True)
class LabRun:
    """How one run ended: its exit code (None if it never ended), why it was stopped, its report if it wrote one."""

    exit_code: int | None
    reason: str
    report: dict[str, Any] | None
    log: Path

    def tail(self, lines: int = LOG_TAIL) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_lab(argv: Sequence[str], folder: Path, env: Mapping[str, str], timeout_s: float, grace_s: float = GRACE_S,
            report: Path | None = None, log_name: str = "pytest.log") -> LabRun:
    """Run ``argv`` in ``folder`` with exactly ``env``, its output in ``folder/<log_name>``; ``report`` is read back
    (by default the path after ``--lab-report`` in ``argv``)."""
    log_path = folder / log_name
    if report is None and "--lab-report" in argv:
        report = Path(list(argv)[list(argv).index("--lab-report") + 1])
    with log_path.open("w") as log:
        proc = subprocess.Popen(list(argv), cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=dict(env), start_new_session=True)
        reason = ""
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc, grace_s)
            minutes, sec = divmod(int(round(timeout_s)), 60)
            reason = f"timed out after {f'{minutes}m{sec:02d}s' if minutes else f'{sec}s'} and was interrupted"
        except BaseException:
            _stop(proc, grace_s)  # the caller's Ctrl-C: let this run clean up first
            raise
    data = None
    if report is not None and report.exists():
        try:
            data = json.loads(report.read_text())
        except ValueError:
            data = None
    return LabRun(proc.returncode, reason, data, log_path)


def lab_command(suite: Path, extra: Sequence[str]) -> list[str]:
    """``python -m pytest <lab suite> -p no:cacheprovider [PYTEST_ARGS]`` with this interpreter."""
    return [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", *extra]
