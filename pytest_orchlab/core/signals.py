"""Ctrl-C and SIGTERM clean up, also in a process started from a script's background (SIGINT inherited ignored)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interrupts_clean_up(*, sigterm: bool) -> Iterator[None]:
    """For the block: SIGINT raises ``KeyboardInterrupt`` even when it was inherited ignored (a teacher's Ctrl-C, or
    ``orchlab grade`` stopping a student's run, must clean up), and with ``sigterm`` a default SIGTERM does the same
    (CI or a script terminating the run). The handlers found are put back at the end."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        if sigterm and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_interrupt)
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
