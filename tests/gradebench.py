"""Benchmark (not a timed test): ``orchlab grade`` one by one vs scheduled (``--jobs``) on a class, same verdicts?

    python tests/gradebench.py [--size 12] [--jobs auto] [-- PYTEST_ARGS]     (tox -e gradebench)

Prints both wall times, their ratio, the scheduled time projected for a cohort of 30, and every student and
checkpoint whose verdict differs.
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
    return time.monotonic() - began


def verdicts(out: Path) -> dict[str, dict[str, tuple[str, float]]]:
    found = {}
    for report in sorted(out.glob("students/*/report.json")):
        data = json.loads(report.read_text())
        found[report.parent.name] = {cp["id"]: (cp["outcome"], cp["earned"]) for cp in data["checkpoints"]}
        MESSAGES[(out.name, report.parent.name)] = {cp["id"]: cp.get("message", "") for cp in data["checkpoints"]}
    return found


MESSAGES: dict[tuple[str, str], dict[str, str]] = {}  # (serial|parallel, student) -> checkpoint -> message


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="auto")
    parser.add_argument("--size", type=int, choices=(6, 12), default=12, help="the class: six labs, or twelve")
    parser.add_argument("--engines", default=None, help="grade the parallel run with --engines (e.g. 20.10,20.10,20.10) instead of --jobs")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = [a for a in args.pytest_args if a != "--"] or ["-m", "phase1 or phase2"]
    with tempfile.TemporaryDirectory(prefix="orchlab-gradebench-") as tmp:
        room = (class_of_twelve if args.size == 12 else class_folder)(Path(tmp) / "class")
        serial = grade(room, Path(tmp) / "serial", "1", extra)
        parallel = grade(room, Path(tmp) / "parallel", args.jobs, extra, args.engines)
        if args.engines:
            args.jobs = str(len(args.engines.split(",")))
        jobs_used = json.loads((Path(tmp) / "parallel" / "class.json").read_text())
        schedule = {r["student"]: r.get("schedule") for r in jobs_used}
        one, many = verdicts(Path(tmp) / "serial"), verdicts(Path(tmp) / "parallel")
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
