"""Benchmark (not a timed test): is the reference lab's Phase 1 passed every time, alone and in a class?

    python tests/repeatbench.py alone [--runs 20] [--out DIR]     (tox -e repeatbench -- alone)
    python tests/repeatbench.py class [--runs 20] [--out DIR]     one class of RUNS copies, orchlab grade --jobs auto

``alone`` runs ``pytest -m phase1`` on ``sample_app/`` RUNS times one after the other; ``class`` grades a class of
RUNS copies of it in one ``orchlab grade --jobs auto``. Prints, per checkpoint, how many runs passed it, and the
figures each verdict stood on (failed requests at the climb, the ceiling's growth, the CPU peak), so a verdict that
held only narrowly shows. Exit 1 when any run missed a pass.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.helpers import BASE_IMAGE, SAMPLE  # noqa: E402

FIGURES = {  # checkpoint -> what its message's numbers are, for the spread printed after the table
    "p1-requests-fail": re.compile(r"(\d+) of (\d+) requests failed"),
    "p1-throughput-ceiling": re.compile(r"(\d+)\s*(?:→|->)\s*(\d+) req/s"),
    "p1-cpu-saturation": re.compile(r"(\d+)\s*%"),
}


def alone(runs: int, out: Path) -> list[dict[str, Any]]:
    reports = []
    for n in range(runs):
        report = out / f"run-{n + 1:02d}.json"
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "checkpoints"), "--lab-dir", str(SAMPLE), "-m", "phase1",
                        "--base-image", BASE_IMAGE, "--lab-lang", "en", "--lab-report", str(report), "-p", "no:cacheprovider", "-q"],
                       stdout=subprocess.DEVNULL, check=False)
        print(f"run {n + 1}/{runs}: {time.monotonic() - began:.0f} s", flush=True)
        reports.append(json.loads(report.read_text()))
    return reports


def in_a_class(runs: int, out: Path) -> list[dict[str, Any]]:
    room = out / "class"
    for n in range(runs):
        shutil.copytree(SAMPLE, room / f"ref{n + 1:02d}", ignore=shutil.ignore_patterns("variants", "__pycache__"))
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out / "graded"), "--jobs", "auto",
                    "--", "--base-image", BASE_IMAGE, "--lab-lang", "en", "-m", "phase1"], check=False)
    print(f"class of {runs}: {time.monotonic() - began:.0f} s", flush=True)
    return [json.loads(p.read_text()) for p in sorted((out / "graded").glob("students/*/report.json"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=("alone", "class"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="keep every report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orchlab-repeatbench-") as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        reports = (alone if args.mode == "alone" else in_a_class)(args.runs, out)
        wall = time.monotonic() - began
    passed: Counter[str] = Counter()
    seen: dict[str, list[str]] = {}
    for report in reports:
        for cp in report["checkpoints"]:
            passed[cp["id"]] += cp["outcome"] == "passed"
            if cp["outcome"] != "passed":
                seen.setdefault(cp["id"], []).append(f"{cp['outcome']}: {cp.get('message', '')}")
            found = FIGURES.get(cp["id"], re.compile("$^")).search(cp.get("message", ""))
            if found:
                seen.setdefault(cp["id"] + " figures", []).append("/".join(found.groups()))
    ids = list(dict.fromkeys(cp["id"] for report in reports for cp in report["checkpoints"]))
    print(f"{args.mode}: {len(reports)} runs of the reference lab's Phase 1 in {wall:.0f} s")
    for cid in ids:
        print(f"  {cid:24} passed {passed[cid]:2} of {len(reports)}")
    for key, values in seen.items():
        print(f"  {key}: {'; '.join(values)}")
    complete = len(reports) == args.runs and all(passed[cid] == len(reports) for cid in ids) and len(ids) == 8
    print(f"{sum(passed.values())} passes of {args.runs} × 8: {'every run passed all eight' if complete else 'NOT every pass'}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
