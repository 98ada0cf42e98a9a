"""Benchmark (not a timed test): ``orchlab grade`` one by one vs scheduled (``--jobs``) on a class, same verdicts?

    python tests/gradebench.py [--size 12] [--jobs auto] [--keep DIR] [--serial DIR] [-- PYTEST_ARGS]   (tox -e gradebench)

Prints both wall times, their ratio, the scheduled time projected for a cohort of 30, and every student and
checkpoint whose verdict differs. ``--keep DIR`` keeps the class and both runs (``DIR/class``, ``DIR/serial``,
``DIR/parallel``, each run's wall time in its ``wall.json``); ``--serial DIR`` compares a new scheduled run with the
one-by-one run kept there (same class, same machine) instead of grading one by one again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import BASE_IMAGE, class_folder, class_of_twelve  # noqa: E402


def grade(room: Path, out: Path, jobs: str, extra: list[str], engines: str | None = None) -> float:
    began = time.monotonic()
    spread = ["--engines", engines] if engines else ["--jobs", str(jobs)]
    done = subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out), *spread,
                           "--", "--base-image", BASE_IMAGE, "--lab-lang", "en", *extra], text=True)
    if done.returncode != 0:
        sys.exit(f"orchlab grade --jobs {jobs} exited {done.returncode}")
    seconds = time.monotonic() - began
    (out / "wall.json").write_text(json.dumps({"seconds": seconds, "jobs": jobs, "args": extra}) + "\n")
    return seconds


def kept_serial(kept: Path) -> float:
    """The wall time of a one-by-one run kept by ``--keep`` (its reports are read from the same folder)."""
    wall = json.loads((kept / "serial" / "wall.json").read_text())
    if wall.get("exit", 0) != 0:
        sys.exit(f"the kept one-by-one run in {kept} exited {wall['exit']}")
    return float(wall["seconds"])


def verdicts(out: Path) -> dict[str, dict[str, tuple[str, float]]]:
    found = {}
    for report in sorted(out.glob("students/*/report.json")):
        data = json.loads(report.read_text())
        found[report.parent.name] = {cp["id"]: (cp["outcome"], cp["earned"]) for cp in data["checkpoints"]}
        MESSAGES[("serial" if out.name == "serial" else "parallel", report.parent.name)] = {cp["id"]: cp.get("message", "") for cp in data["checkpoints"]}
    return found


MESSAGES: dict[tuple[str, str], dict[str, str]] = {}  # (serial|parallel, student) -> checkpoint -> message


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="auto")
    parser.add_argument("--size", type=int, choices=(6, 12), default=12, help="the class: six labs, or twelve")
    parser.add_argument("--engines", default=None, help="grade the parallel run with --engines (e.g. 20.10,20.10,20.10) instead of --jobs")
    parser.add_argument("--keep", type=Path, default=None, help="keep the class and both runs in this folder")
    parser.add_argument("--serial", type=Path, default=None, help="a folder kept by --keep: its one-by-one run is the baseline")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = [a for a in args.pytest_args if a != "--"] or ["-m", "phase1 or phase2"]
    with tempfile.TemporaryDirectory(prefix="orchlab-gradebench-") as scratch:
        tmp = Path(args.keep or scratch)
        if args.serial:
            room, base, serial = args.serial / "class", args.serial, kept_serial(args.serial)
            print(f"one by one: the run kept in {args.serial} ({serial:.0f} s)")
        else:
            room, base = (class_of_twelve if args.size == 12 else class_folder)(tmp / "class"), tmp
            serial = grade(room, tmp / "serial", "1", extra)
        parallel_out = tmp / ("parallel-" + time.strftime("%H%M%S") if args.serial else "parallel")
        parallel = grade(room, parallel_out, args.jobs, extra, args.engines)
        if args.engines:
            args.jobs = str(len(args.engines.split(",")))
        jobs_used = json.loads((parallel_out / "class.json").read_text())
        schedule = {r["student"]: r.get("schedule") for r in jobs_used}
        one, many = verdicts(base / "serial"), verdicts(parallel_out)
    diffs = [f"  {sid} {cid}: serial {one[sid].get(cid)} vs --jobs {args.jobs} {many.get(sid, {}).get(cid)}\n"
             f"    serial: {MESSAGES.get(('serial', sid), {}).get(cid, '')}\n    --jobs: {MESSAGES.get(('parallel', sid), {}).get(cid, '')}"
             for sid in one for cid in one[sid] if one[sid].get(cid) != many.get(sid, {}).get(cid)]
    cells = sum(len(v) for v in one.values())
    n = len(one)
    print(f"class of {n} ({' '.join(extra)}): serial {serial:.0f} s, --jobs {args.jobs} {parallel:.0f} s, "
          f"ratio {parallel / serial:.2f}; verdicts identical in {cells - len(diffs)} of {cells} cells")
    print(f"projected for 30 students: one by one {serial / n * 30 / 60:.0f} min, scheduled about {parallel / n * 30 / 60:.0f} min")
    print("schedule (s from the start): " + json.dumps(schedule))
    print("\n".join(diffs) if diffs else "no verdict differs")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
