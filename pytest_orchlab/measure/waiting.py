"""Every wait in pytest-orchlab: short polls through tenacity, never a blind sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


def poll(fn: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float = 0.2) -> tuple[T, float]:
    """Call ``fn`` every ``interval`` s until ``done(result)`` or ``timeout`` s have passed.

    Returns the last result and the seconds waited; the caller decides what a timeout means, so
    the message can say what was seen.
    """
    start = time.monotonic()

    def last(state: RetryCallState) -> T:
        assert state.outcome is not None
        return state.outcome.result()  # type: ignore[no-any-return]

    value = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda v: not done(v)),
        retry_error_callback=last,
    )(fn)
    return value, time.monotonic() - start
