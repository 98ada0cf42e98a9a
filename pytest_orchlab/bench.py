"""Benchmark: is orchlab's load generator as fast as Apache Bench on the same target?"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass

from .traffic import load


@dataclass(frozen=True)
class Comparison:
    concurrency: int
    seconds: float
    ab_rps: float
    orchlab_rps: float

    @property
    def ratio(self) -> float:
        return self.orchlab_rps / self.ab_rps if self.ab_rps else float("inf")


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


def compare(
    host: str, port: int, levels: tuple[int, ...] = (200, 600), seconds: float = 6.0, rounds: int = 3
) -> list[Comparison]:
    """Alternate ``ab`` and orchlab's generator ``rounds`` times per level (ABBA order) and keep medians.

    Both share two cores with the app they load, so single runs vary by about 10 %; the median of
    interleaved runs cancels drift such as a warming page cache.
    """
    rows = []
    for c in levels:
        theirs: list[float] = []
        ours: list[float] = []
        for i in range(rounds):
            order = (theirs, ours) if i % 2 == 0 else (ours, theirs)
            for bucket in order:
                if bucket is theirs:
                    theirs.append(ab_rps(host, port, c, seconds))
                else:
                    ours.append(load(host, port, c, seconds, timeout=5.0).rps)
        rows.append(Comparison(c, seconds, statistics.median(theirs), statistics.median(ours)))
    return rows
