"""What pytest-orchlab adds to a pytest run that does not use it: `python -X importtime -m pytest --co -q`
in an empty folder, with the plugin and with `-p no:orchlab`, median of several runs (tox -e importtime)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def imported(extra: list[str], folder: str) -> tuple[dict[str, int], float]:
    """Self time in µs of every module imported by one collection run, and the run's wall time in ms."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *extra],
                          cwd=folder, capture_output=True, text=True, check=False)
    wall = (time.perf_counter() - start) * 1000
    return {m.group(4): int(m.group(1)) for m in map(LINE.match, done.stderr.splitlines()) if m}, wall


def main(runs: int = 7) -> int:
    added, walls_with, walls_without = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            with_plugin, wall_with = imported([], folder)
            without, wall_without = imported(["-p", "no:orchlab"], folder)
            extra = {m: us for m, us in with_plugin.items() if m not in without}
            added.append(sum(extra.values()) / 1000)
            walls_with.append(wall_with)
            walls_without.append(wall_without)
    print(f"modules only loaded with the plugin: {', '.join(sorted(extra))}")
    print(f"import time they add (median of {runs}): {statistics.median(added):.1f} ms")
    print(f"wall time of `pytest --co -q` on an empty folder: {statistics.median(walls_with):.0f} ms with the plugin, "
          f"{statistics.median(walls_without):.0f} ms with -p no:orchlab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
