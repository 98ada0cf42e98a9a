"""Steady traffic from this machine to a published port (Swarm's routing mesh, a Kubernetes NodePort)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from types import TracebackType

from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.measure.traffic import fetch, run

# Requests per second while an experiment runs. The lab's own loop sends 1; at 50 a task that gets traffic
# before it listens (about 0.1-0.5 s after it starts) is hit several times per update, not by luck.
STEADY_RATE = 50.0


class HostProbe:
    """The lab's path: requests from this machine to the published port, ``rate`` per second."""

    def __init__(self, host: str, port: int, timeline: Timeline, rate: float = STEADY_RATE, timeout: float = 3.0,
                 clock: Callable[[], float] = time.time, what: str = "published port") -> None:
        self.host, self.port, self.timeline, self.rate, self.timeout = host, port, timeline, rate, timeout
        self.clock, self.what = clock, what
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None

    def pause(self) -> None:
        """No new request until :meth:`resume` (requests in flight finish and are recorded)."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    async def _run(self) -> None:
        import asyncio

        async def one(t: float) -> None:
            self.timeline.add(dataclasses.replace(await fetch(self.host, self.port, "/", self.timeout), start=t))

        pending: set[asyncio.Task[None]] = set()
        next_at = time.time()
        while not self._stop.is_set():
            if self._paused.is_set():
                await asyncio.sleep(0.02)
                next_at = time.time()
                continue
            task = asyncio.create_task(one(self.clock()))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += 1 / self.rate
            await asyncio.sleep(max(0.0, next_at - time.time()))
        if pending:
            await asyncio.wait(pending, timeout=self.timeout + 1)

    def __enter__(self) -> HostProbe:
        self.timeline.path = f"{self.what} {self.host}:{self.port}"
        self.timeline.clock = self.clock
        self._thread = threading.Thread(target=run, args=(self._run(),), name="orchlab-host-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 2)
