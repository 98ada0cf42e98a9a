"""Benchmark: is orchlab's load generator as fast as Apache Bench on the same target?

Besides req/s, each round records the app's CPU (from the container's CPU counter, as ``docker stats`` reads it) and the
load tool's own CPU: if the app sits at its ceiling under both tools, the app is the bottleneck, not
the generator, and what remains between the two rates is CPU the tool takes from the app's machine.
"""

from __future__ import annotations

import re
import resource
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pytest_orchlab.measure.traffic import load


@dataclass(frozen=True)
class Round:
    """One tool's run: successful req/s, the app's CPU % over the load window, the tool's own CPU % of one core."""

    rps: float
    app_cpu: float
    tool_cpu: float


def median_round(rounds: list[Round]) -> Round:
    return Round(*(statistics.median(getattr(r, f) for r in rounds) for f in ("rps", "app_cpu", "tool_cpu")))


@dataclass(frozen=True)
class Comparison:
    concurrency: int
    seconds: float
    ab: Round
    orchlab: Round

    @property
    def ratio(self) -> float:
        return self.orchlab.rps / self.ab.rps if self.ab.rps else float("inf")


def ab_rps(host: str, port: int, concurrency: int, seconds: float) -> float:
    """Successful requests per second measured by ``ab -t`` (Debian package apache2-utils)."""
    ab = shutil.which("ab")
    if ab is None:
        raise RuntimeError("ab not found: apt-get install apache2-utils")
    out = subprocess.run(
        [ab, "-q", "-r", "-s", "5", "-t", str(seconds), "-n", "1000000", "-c", str(concurrency), f"http://{host}:{port}/"],
        capture_output=True, text=True, check=False,
    ).stdout
    complete = re.search(r"Complete requests:\s+(\d+)", out)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    taken = re.search(r"Time taken for tests:\s+([\d.]+)", out)
    if not (complete and failed and taken):
        raise RuntimeError(f"could not read ab's output: {out[-300:]}")
    return (int(complete.group(1)) - int(failed.group(1))) / float(taken.group(1))


def orchlab_rps(host: str, port: int, concurrency: int, seconds: float) -> float:
    """Successful requests per second of orchlab's own generator, as the Phase 1 sweep runs it."""
    return load(host, port, concurrency, seconds, timeout=5.0).rps


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(run_tool: Callable[[], float], who: int, app_ns: Callable[[], int] | None, seconds: float) -> Round:
    """Run one tool; ``who`` is RUSAGE_CHILDREN for ``ab``, RUSAGE_SELF for orchlab's own generator.

    ``app_ns`` reads the app container's CPU counter. It is read twice inside the load window, after the
    ramp-up and at the deadline (orchlab lets requests in flight at the deadline finish, ab drops them;
    neither the ramp nor that tail is load), so the app's CPU is exact over that window, where sampling
    a one-second stream could miss a short run altogether.
    """
    reads: list[tuple[float, int]] = []

    def read(counter: Callable[[], int]) -> None:
        reads.append((time.monotonic(), counter()))

    timers = [threading.Timer(at, read, (app_ns,)) for at in (min(1.0, seconds / 4), seconds)] if app_ns is not None else []
    cpu0, start = _cpu_seconds(who), time.monotonic()
    for timer in timers:
        timer.start()
    rps = run_tool()
    end = time.monotonic()
    for timer in timers:
        timer.join()
    tool_cpu = 100 * (_cpu_seconds(who) - cpu0) / (end - start)
    app_cpu = float("nan")
    if len(reads) == 2 and reads[1][0] > reads[0][0]:
        app_cpu = 100 * (reads[1][1] - reads[0][1]) / 1e9 / (reads[1][0] - reads[0][0])
    return Round(rps, app_cpu, tool_cpu)


def compare(
    host: str, port: int, levels: tuple[int, ...] = (200, 600), seconds: float = 6.0, rounds: int = 3,
    app_ns: Callable[[], int] | None = None,
) -> list[Comparison]:
    """Alternate ``ab`` and orchlab's generator ``rounds`` times per level (ABBA order) and keep medians.

    Both share two cores with the app they load, so single runs vary by about 10 %; the median of
    interleaved runs cancels drift such as a warming page cache.
    """
    rows = []
    for c in levels:
        theirs: list[Round] = []
        ours: list[Round] = []
        for i in range(rounds):
            for bucket in ((theirs, ours) if i % 2 == 0 else (ours, theirs)):
                if bucket is theirs:
                    theirs.append(measure(partial(ab_rps, host, port, c, seconds), resource.RUSAGE_CHILDREN, app_ns, seconds))
                else:
                    ours.append(measure(partial(orchlab_rps, host, port, c, seconds), resource.RUSAGE_SELF, app_ns, seconds))
        rows.append(Comparison(c, seconds, median_round(theirs), median_round(ours)))
    return rows


def table(rows: list[Comparison]) -> list[str]:
    """The benchmark's printed table: rates, their ratio, the app's CPU and each tool's own CPU."""
    lines = ["concurrency  ab req/s  orchlab req/s  ratio  app CPU % (ab / orchlab)  tool CPU % (ab / orchlab)"]
    lines += [f"{r.concurrency:>11}  {r.ab.rps:>8.0f}  {r.orchlab.rps:>13.0f}  {r.ratio:>5.2f}"
              f"  {r.ab.app_cpu:>11.0f} / {r.orchlab.app_cpu:<11.0f}  {r.ab.tool_cpu:>12.0f} / {r.orchlab.tool_cpu:<.0f}" for r in rows]
    return lines
