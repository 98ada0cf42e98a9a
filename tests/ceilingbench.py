"""Benchmark (not a timed test): how much does one load level's throughput vary, within a sweep and between sweeps?

    python tests/ceilingbench.py [--rounds 4] [--again 3] [--out FILE]     (tox -e ceilingbench)

Runs the lab's own app (``sample_app/phase1``, built on the offline base image) as Phase 1 does: one container on
its own core, the load generator on the other, load to the container's address. Each round is the profile's
levels (10, 300, 600, 1000 clients, 4 s each) and then the last two levels ``--again`` times more, in the order
the ceiling verdict measures them again. Prints every measurement, each second's completions of each level, the
spread of one level (sd of log req/s), and of the 600→1000 growth from one pair, and from the mean of n pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import docker  # noqa: E402

from pytest_orchlab.measure.cpu import cpu_usage_ns  # noqa: E402
from pytest_orchlab.measure.machine import Window, wait_for_quiet  # noqa: E402
from pytest_orchlab.measure.traffic import LoadStep, load  # noqa: E402
from tests.helpers import BASE_IMAGE, SAMPLE  # noqa: E402

LEVELS, TOP = (10, 300, 600, 1000), (600, 1000)


def per_second(step: LoadStep) -> list[int]:
    """Successes completed in each second of the window."""
    if not step.replies:
        return []
    t0 = min(r.start for r in step.replies)
    out = [0] * max(1, round(step.seconds))
    for r in step.replies:
        s = int(r.start + r.seconds - t0)
        if r.ok and 0 <= s < len(out):
            out[s] += 1
    return out


def sd_log(values: list[float]) -> float:
    logs = [math.log(v) for v in values if v > 0]
    return statistics.stdev(logs) if len(logs) > 1 else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--again", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    client = docker.from_env()
    run = f"bench-{uuid.uuid4().hex[:8]}"
    tag = f"orchlab-bench/simple-web:{run}"
    dockerfile = (SAMPLE / "phase1" / "Dockerfile").read_text().replace("FROM python:3.9-slim", f"FROM {BASE_IMAGE}")
    subprocess.run(["docker", "build", "-q", "-t", tag, "--label", f"orchlab.run={run}", "-f", "-", str(SAMPLE / "phase1")],
                   input=dockerfile, text=True, check=True, stdout=subprocess.DEVNULL)
    box = client.containers.run(tag, detach=True, labels={"orchlab.run": run}, cpuset_cpus="0", environment={"PORT": "8080"})
    rows: list[dict[str, Any]] = []
    try:
        box.reload()
        host = box.attrs["NetworkSettings"]["IPAddress"]
        port = 5000 if "5000/tcp" in (box.attrs["Config"].get("ExposedPorts") or {}) else 8080
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and load(host, port, 1, 0.3).succeeded == 0:
            time.sleep(0.2)
        for rnd in range(args.rounds):
            wait_for_quiet(print)
            plan = [*LEVELS] + [c for _ in range(args.again) for c in TOP]
            for i, level in enumerate(plan):
                window, app0, t0 = Window.start(), cpu_usage_ns(box), time.monotonic()
                step = load(host, port, level, 4.0, 5.0)
                app_s = (cpu_usage_ns(box) - app0) / 1e9
                rows.append({"round": rnd, "i": i, "clients": level, "rps": round(step.rps, 1), "failed": step.failed,
                             "app_pct": round(app_s / (time.monotonic() - t0) * 100, 1),
                             "others_pct": None if window is None else round(window.others_pct(app_s), 1),
                             "per_second": per_second(step)})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        with contextlib.suppress(docker.errors.APIError):
            box.remove(force=True)
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(tag, force=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    summarize(rows, args.rounds)
    return 0


def summarize(rows: list[dict[str, Any]], rounds: int) -> None:
    """The spreads over the rounds none of whose levels saw more than 30 % of a core of other work."""
    noisy = {r["round"] for r in rows if (r["others_pct"] or 0) > 30}
    rows = [r for r in rows if r["round"] not in noisy]
    print(f"rounds left out (other work above 30 % of a core in a level): {sorted(noisy)}")
    rounds_kept = sorted({r["round"] for r in rows})
    for c in TOP:
        within = [sd_log([r["rps"] for r in rows if r["round"] == k and r["clients"] == c]) for k in rounds_kept]
        print(f"{c} clients: sd of log req/s within a round {statistics.mean(within):.3f}, over all "
              f"{sd_log([r['rps'] for r in rows if r['clients'] == c]):.3f}")
    gains: list[list[float]] = []
    for k in rounds_kept:
        a = [r["rps"] for r in rows if r["round"] == k and r["clients"] == 600]
        b = [r["rps"] for r in rows if r["round"] == k and r["clients"] == 1000]
        gains.append([b[j] / a[j] for j in range(min(len(a), len(b))) if a[j] > 0])
    flat = [g for gs in gains for g in gs]
    print(f"growth 600→1000 of one pair: {min(flat):.2f}-{max(flat):.2f}, geometric mean "
          f"{math.exp(statistics.mean(math.log(g) for g in flat)):.3f}, sd of log {sd_log(flat):.3f} (n={len(flat)})")
    for n in (2, 3, 4):
        means = [math.exp(statistics.mean(math.log(g) for g in gs[:n])) for gs in gains if len(gs) >= n]
        if len(means) > 1:
            print(f"mean of the first {n} pairs of a round: {min(means):.2f}-{max(means):.2f}, sd of log {sd_log(means):.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
