"""``orchlab``: set up an engine, build the offline base image, sweep leftovers, benchmark the load."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from functools import partial
from pathlib import Path

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.labdir import DEFAULT_LAB_DIR
from pytest_orchlab.core.signals import interrupts_clean_up
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.baseimage import DEFAULT_BASE_IMAGE, build_base_image, resolve_base_image
from pytest_orchlab.docker.engine import RUN_LABEL, Engine, apt_install, connect, ensure_engine
from pytest_orchlab.grading.capacity import jobs_choice
from pytest_orchlab.settings import add_cli_option


def _engine(_: argparse.Namespace) -> str:
    return ensure_engine()


def _base_image(args: argparse.Namespace) -> str:
    client = connect()
    if args.remove:
        client.images.remove(args.name)
        return f"removed {args.name}"
    return build_base_image(client, args.name, rebuild=args.rebuild)


def _sweep(args: argparse.Namespace) -> str:
    from pytest_orchlab.core.runs import forget_dead_runs, run_alive
    from pytest_orchlab.docker.sweep import sweep

    done = sweep(connect(), (lambda run: True) if args.all else (lambda run: not run_alive(run)))
    forget_dead_runs()
    lines = ["removed: " + (", ".join(done.removed) if done.removed else "nothing")]
    return "\n".join(lines + [f"could not remove {f}" for f in done.failed])


def _bench(args: argparse.Namespace) -> str:
    from pytest_orchlab.docker.container import WebContainer
    from pytest_orchlab.docker.image import IMAGE_STEP, ImageBuilder
    from pytest_orchlab.measure.bench import compare, table
    from pytest_orchlab.measure.cpu import cpu_usage_ns

    if shutil.which("ab") is None:
        apt_install("apache2-utils")  # Apache Bench, the yardstick; explains what to do off Debian
    from pytest_orchlab.core.runs import RunLock
    from pytest_orchlab.docker.sweep import sweep
    from pytest_orchlab.submission.intake import snapshot

    engine = Engine.connect()
    with RunLock(engine.run_id):
        lab, _ = snapshot(args.lab_dir, engine.run_id)  # the lab folder through the gate, as a lab run reads it
        lab.require(lab.app_py, lab.dockerfile, step=IMAGE_STEP)
        try:
            image = ImageBuilder(engine, args.base_image).build(lab.phase1, "simple-web:v1", dockerfile_name=lab.dockerfile.name)
            with WebContainer(engine, image, host_port=args.port) as web:
                host, port = web.bridge_address() or (web.host, web.host_port)
                rows = compare(host, port, tuple(args.levels), args.seconds, args.rounds, partial(cpu_usage_ns, web.container))
        finally:
            sweep(engine.client, lambda run: run == engine.run_id)
    lines = [f"target {host}:{port} (lab app from {lab.shown / 'phase1'}), {args.seconds:g} s per run, "
             f"medians of {args.rounds} alternating rounds"]
    return "\n".join(lines + table(rows))


class Invalid(OrchlabError):
    """A check that ran and said no (exit 1, not a usage error)."""


def _misplaced(path: Path, data: dict[str, object]) -> str:
    """"" when a signed report sits in its own student's folder (``students/<folder>/report.json``, or anywhere else),
    else what is wrong: a report moved into another student's folder must not verify as theirs."""
    from pytest_orchlab.grading.roster import folder_names

    student, own = data.get("student"), data.get("student_folder")
    folder = path.resolve().parent
    if not isinstance(student, str) or folder.parent.name != "students":
        return ""
    if folder.name == own or (own is None and folder.name in folder_names(student)):
        return ""
    return f"INVALID: signed for student {student!r}, but it is in the folder of {folder.name!r}"


def _verify(args: argparse.Namespace) -> str:
    import json
    import os

    from pytest_orchlab.results.signing import KEY_ENV, verify

    key = os.environ.get(KEY_ENV, "").encode()
    if not key:
        raise OrchlabError(t(f"{KEY_ENV} 가 없습니다: 보고서에 서명한 과정의 키를 설정하세요.",
                             f"{KEY_ENV} is not set: export the course key the reports were signed with."))
    lines, bad = [], 0
    for path in args.reports:
        try:
            data = json.loads(open(path, encoding="utf-8").read())
        except (OSError, ValueError) as exc:
            lines.append(f"{path}: INVALID: cannot read it as JSON ({exc})")
            bad += 1
            continue
        check = verify(data, key)
        misplaced = _misplaced(Path(path), data) if check.valid else ""
        bad += not check.valid or bool(misplaced)
        who = f" (student {data.get('student', '?')}, run {data.get('run_id')}, engine {str((data.get('engine') or {}).get('id') or '?')[:12]}, " \
              f"score {(data.get('score') or {}).get('earned')}/{(data.get('score') or {}).get('possible')})" if check.valid else ""
        lines.append(f"{path}: {misplaced or check.describe()}{who}")
    if bad:
        raise Invalid(t("\n".join(lines), "\n".join(lines)))
    return "\n".join(lines)


def _given_base(pytest_args: list[str]) -> str | None:
    """The base image the lab runs are told to use: ``--base-image`` after ``--``, else ``ORCHLAB_BASE_IMAGE``."""
    for n, arg in enumerate(pytest_args):
        if arg == "--base-image" and n + 1 < len(pytest_args):
            return pytest_args[n + 1]
        if arg.startswith("--base-image="):
            return arg.split("=", 1)[1]
    return os.environ.get("ORCHLAB_BASE_IMAGE") or None


def _grade(args: argparse.Namespace) -> str:
    import json
    from pathlib import Path

    from pytest_orchlab.core.runs import RunLock
    from pytest_orchlab.grading import intake, roster, summary
    from pytest_orchlab.grading.labrun import lab_command
    from pytest_orchlab.grading.runner import ClassRun, Outcome
    from pytest_orchlab.plugin import lab_suite
    from pytest_orchlab.results.formats import parse

    for spec in args.format:
        try:
            parse(spec)
        except ValueError as exc:
            raise OrchlabError(t(str(exc), str(exc))) from None
    say = partial(print, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    found: list[intake.Found] = []
    if args.roster:
        students = roster.from_roster(Path(args.roster))
    else:
        # A class folder as it arrives (folders, archives, an LMS export, Classroom clones): each student's one lab.
        class_dir = Path(args.class_dir).resolve()
        found, nobody = intake.find_labs(class_dir, out / "extracted", intake.id_pattern(args.id_pattern))
        (out / "intake.csv").write_text(intake.intake_csv(found, nobody, class_dir))
        if not found:
            raise OrchlabError(t(f"{class_dir} 에 학생 폴더가 없습니다 (학생마다 하위 폴더 하나, 또는 압축 파일 하나).",
                                 f"{class_dir} holds no student folders (one sub-folder, or one archive, per student)."))
        students = intake.students(found)
        for f in found:
            if f.status != "ok":
                say(f"orchlab: {f.student}: {f.status}: {f.reason}")
    extra = list(args.pytest_args)
    began = time.monotonic()
    host = Engine.connect()  # the grading run: its id labels the inner engines and the shared swarm it makes
    specs = [spec.strip() for spec in (args.engines or "").split(",") if spec.strip()]

    def class_run(**where: object) -> ClassRun:
        return ClassRun(students, out, lab_command(lab_suite(), extra), regrade=args.regrade, timeout_s=args.timeout,
                        formats=args.format, progress=say, run_id=host.run_id, **where)  # type: ignore[arg-type]

    from pytest_orchlab.grading.capacity import auto_jobs, cpu_budget

    jobs = auto_jobs(len(students)) if args.jobs == "auto" else int(args.jobs)
    budget = cpu_budget() if args.jobs == "auto" else None
    if budget is not None:
        say(f"orchlab: --jobs auto: up to {jobs} at a time on this machine ({os.cpu_count()} cores), as many as "
            f"{budget:.0f} % of a core carries (a lab whose stack runs a healthcheck weighs more)")
    with RunLock(host.run_id):
        if specs:
            # One student at a time on each engine: an address as given, or an inner engine of a Docker release
            # started for this run (labelled with its id, removed at the end, swept after a crash).
            from pytest_orchlab.docker import engines

            try:
                addresses = [spec if "://" in spec else engines.start_engine(
                    host.client, spec, labels={RUN_LABEL: host.run_id}, node=f"g{n + 1}", base_image=resolve_base_image(host.client, _given_base(extra)),
                    progress=say).address for n, spec in enumerate(specs)]
                run = class_run(engines=addresses)
                outcomes = run.run_all()
            finally:
                engines.remove_engines(host.client, lambda labels: labels.get(RUN_LABEL) == host.run_id)
        elif jobs > 1:
            # Several runs on one engine share one swarm: made once here (when off) and left at the end, so every
            # student's run sees the same thing a run of its own would (a swarm orchlab initialised: 0 points).
            from pytest_orchlab.swarm.cluster import Swarm

            say(f"orchlab: {jobs} at a time on one engine: first every student's Phase 1 (the CPU sweeps one after another, "
                "alone on the machine), then the rest of each lab side by side, sharing one swarm.")
            run = class_run(jobs=jobs, stage_two=lambda: Swarm(host, progress=say), budget=budget)
            outcomes = run.run_all()
        else:
            run = class_run()
            outcomes = run.run_all()
    wall = time.monotonic() - began
    outcomes += [Outcome(roster.Student(f.student, Path()), f.status, reason=f.reason) for f in found if f.status != "ok"]
    outcomes.sort(key=lambda o: o.student.id)
    rows = [summary.Row(o.student.id, o.status, o.report, o.reason) for o in outcomes]
    (out / "class.csv").write_text(summary.class_csv(rows))
    (out / "class.md").write_text(summary.class_md(rows))
    (out / "class.json").write_text(json.dumps(
        [{"student": o.student.id, "folder": o.student.slug, "lab_dir": str(o.student.lab_dir), "status": o.status, "reason": o.reason,
          "seconds": round(o.seconds, 1), "report": str(o.folder / "report.json") if o.report else None,
          "engine": (o.report or {}).get("engine", {}).get("address"), "schedule": run.schedule.get(o.student.id)} for o in outcomes],
        ensure_ascii=False, indent=2) + "\n")
    from pytest_orchlab.results.html import index

    lang = str(next((o.report.get("lang") for o in outcomes if o.report), "en"))
    (out / "index.html").write_text(index([(o.student.id, o.status, f"students/{o.student.slug}/report.html" if o.report else None, o.report)
                                           for o in outcomes], lang), encoding="utf-8")
    written = ["class.csv", "class.md", "class.json", "index.html"] + (["intake.csv"] if found else [])
    try:
        summary.class_png(rows, out / "class.png")
        written.append("class.png")
    except ImportError:
        written.append("no class.png: matplotlib is not installed (pip install 'pytest-orchlab[grade]')")
    crashed = sum(o.status == "crashed" for o in outcomes)
    return (f"graded {len(outcomes)} students ({sum(o.status == 'resumed' for o in outcomes)} kept from before, {crashed} crashed) "
            f"in {wall:.0f} s with {run.jobs} job(s) into {out}: " + ", ".join(written))


def _cluster(args: argparse.Namespace) -> str:
    from pytest_orchlab.kube import cluster

    if args.action == "up":
        return cluster.up(args.k3s)
    if args.action == "down":
        return cluster.down()
    return cluster.status()


def _engines(args: argparse.Namespace) -> str:
    from pytest_orchlab.docker import engines

    client = connect()
    if args.action == "build":
        releases = args.releases or list(engines.RELEASES)
        if args.remove:
            for r in releases:
                client.images.remove(engines.image_name(engines.release_of(r)))
            return "removed " + ", ".join(engines.image_name(r) for r in releases)
        return "\n".join(engines.build_engine_image(client, r, rebuild=args.rebuild) for r in releases)
    if args.action == "up":
        base = resolve_base_image(client, args.base_image)
        up = engines.up(client, args.releases or list(engines.RELEASES), base_image=base)
        return "\n".join(f"{e.release}: DOCKER_HOST={e.address}  # {e.describe()}" for e in up)
    if args.action == "down":
        pick = {engines.release_of(r) for r in args.releases}
        removed = engines.remove_engines(client, lambda labels: RUN_LABEL not in labels and (not pick or labels.get(engines.ENGINE_LABEL) in pick))
        return "removed: " + (", ".join(removed) if removed else "nothing")
    running = engines.engines_running(client)
    return "\n".join(f"{e.release}: DOCKER_HOST={e.address}  # {e.describe()}" for e in running) or "no inner engine is running"


def _matrix(args: argparse.Namespace) -> str:
    from pathlib import Path

    from pytest_orchlab.grading.labrun import lab_command
    from pytest_orchlab.grading.releases import ReleaseMatrix, write_matrix
    from pytest_orchlab.plugin import lab_suite

    lab_dir = Path(os.path.expanduser(args.lab_dir)).resolve()  # against the folder the command was run in, once
    if not lab_dir.is_dir():
        raise OrchlabError(t(f"실습 폴더 {lab_dir} 가 없습니다 (--lab-dir).", f"the lab folder {lab_dir} does not exist (--lab-dir)."))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = Path(args.previous) if args.previous else (out / "matrix.json" if (out / "matrix.json").exists() else None)
    if previous is not None and previous.resolve() == (out / "matrix.json").resolve():
        kept = out / "matrix.previous.json"
        kept.write_bytes(previous.read_bytes())  # the last matrix stays readable beside the new one
        previous = kept
    # The base image the lab runs are told to use is the one copied into every engine.
    base = args.base_image or _given_base(list(args.pytest_args)) or DEFAULT_BASE_IMAGE
    matrix = ReleaseMatrix(args.docker.split(","), out, lab_command(lab_suite(), list(args.pytest_args)), lab_dir=lab_dir,
                           base_image=base, parallel=args.parallel, timeout_s=args.timeout, swarm_nodes=int(args.swarm_nodes),
                           progress=lambda line: print(line, flush=True))
    runs = matrix.run()
    again = None if args.no_recheck else matrix.recheck(runs)
    m, changes, written = write_matrix(runs, out, previous, again)
    lines = [f"matrix of {len(runs)} Docker releases into {out}: " + ", ".join(written)]
    lines += [f"Docker {r.release}: " + (f"{r.report['score']['earned']:g}/{r.report['score']['possible']}" if r.report else f"no result: {r.reason}")
              for r in runs]
    if again is not None:
        from pytest_orchlab.results.matrix import across_releases, not_reproduced

        lines += [f"differs between the releases, measured twice: {line}" for line in across_releases(m)]
        lines += [f"did not reproduce (not a release difference): {line}" for line in not_reproduced(m)]
    if previous is not None:
        lines.append(f"{len(changes)} change(s) since {previous}" + "".join(f"\n  {c}" for c in changes))
    if any(r.report is None for r in runs):
        raise Invalid(t("\n".join(lines), "\n".join(lines)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("engine", help="make a Docker engine answer (installs docker.io on Debian as root)").set_defaults(fn=_engine)
    p = sub.add_parser("base-image", help="build a Python base image with no registry (debootstrap)")
    p.add_argument("--name", default=DEFAULT_BASE_IMAGE)
    p.add_argument("--rebuild", action="store_true", help="build again even if cached")
    p.add_argument("--remove", action="store_true", help="remove the cached base image")
    p.set_defaults(fn=_base_image)
    p = sub.add_parser("sweep", help=f"remove resources labelled {RUN_LABEL} left by runs that are over (crashed or killed)")
    p.add_argument("--all", action="store_true", help="every labelled resource, also those of runs that may still be going")
    p.set_defaults(fn=_sweep)
    p = sub.add_parser("cluster", help="a local single-node Kubernetes (k3s) on this Docker engine, offline: up, down, status")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--k3s", default=None, help="the k3s binary or its .xz (else ORCHLAB_K3S, else k3s on PATH)")
    p.set_defaults(fn=_cluster)
    p = sub.add_parser("bench", help="compare the load generator with Apache Bench (ab) on the lab app")
    add_cli_option(p, "--lab-dir", default=DEFAULT_LAB_DIR, where="bench: its phase1/ app is loaded (tox -e bench: sample_app/)")
    add_cli_option(p, "--base-image")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--levels", type=int, nargs="+", default=[200, 600])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per tool and level (medians are printed)")
    p.set_defaults(fn=_bench)
    p = sub.add_parser("grade", help="grade a whole class: one isolated lab run per student, then class.csv, class.md and class.png",
                       usage="orchlab grade (CLASS_DIR | --roster CSV) --out DIR [options] [-- PYTEST_ARGS...]",
                       epilog="Whatever follows -- goes to every student's pytest, e.g. -- -m phase1.")
    p.add_argument("class_dir", nargs="?", help="the class's submissions: a folder, .zip or .tar.gz per student, or an LMS export "
                   "(the name is the student's id, see --id-pattern); the lab may sit up to two folders deep")
    p.add_argument("--roster", help="a CSV with the columns student and lab_dir, instead of a class folder")
    p.add_argument("--id-pattern", default=None, metavar="REGEX",
                   help="how a folder, archive or LMS file names its student: a regular expression with a group (?P<id>...), "
                        "e.g. '^orchestration-lab-(?P<id>.+)$' for GitHub Classroom; default: the name itself, or Canvas and Blackboard file names")
    p.add_argument("--out", required=True, help="where every student's report and the class files go")
    p.add_argument("--format", action="append", default=[], metavar="FORMAT[:NAME]",
                   help="also write each student's results for a grader (gradescope, classroom, prairielearn, junit, markdown)")
    p.add_argument("--regrade", action="store_true", help="grade again students whose report is newer than their lab folder")
    p.add_argument("--jobs", type=jobs_choice, default="1", help="grade N students at once on this engine (own names and ports each): "
                   "every Phase 1 first, CPU sweeps one at a time, then the rest side by side; auto: as many as this machine "
                   "carries (from its cores, memory and the measured cost of a student's Phase 2)")
    p.add_argument("--engines", default=None, metavar="ENGINE,...",
                   help="spread the students over several Docker engines, one student at a time on each: DOCKER_HOST "
                        "addresses (tcp://host:2375) or Docker releases (26.1) started as inner engines for this run")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds one student's run may take before it is interrupted")
    p.set_defaults(fn=_grade, pytest_args=[])  # what follows `--` goes to every student's pytest (e.g. -m phase1)
    p = sub.add_parser("engines", help="Docker engines of other releases (20.10, 26.1, 28.5) built offline and run in containers")
    p.add_argument("action", choices=["build", "up", "down", "status"])
    p.add_argument("releases", nargs="*", metavar="RELEASE", help="20.10, 26.1, 28.5 (default: all)")
    p.add_argument("--rebuild", action="store_true", help="build: again even if cached")
    p.add_argument("--remove", action="store_true", help="build: remove the cached engine images instead")
    add_cli_option(p, "--base-image", where="up: the image copied into each engine; default: orchlab base-image's, if built")
    p.set_defaults(fn=_engines)
    p = sub.add_parser("matrix", help="the lab suite on each Docker release: matrix.md, matrix.json, matrix.png and a diff",
                       usage="orchlab matrix --docker 20.10,26.1,28.5 --out DIR [options] [-- PYTEST_ARGS...]")
    p.add_argument("--docker", default=",".join(["20.10", "26.1", "28.5"]), help="comma-separated releases")
    p.add_argument("--out", required=True)
    add_cli_option(p, "--lab-dir", default="sample_app", where="matrix: run on every release; default: sample_app, of the folder the command runs in")
    add_cli_option(p, "--base-image", where=f"matrix: also copied into every engine; default: the one after --, else {DEFAULT_BASE_IMAGE}")
    p.add_argument("--previous", default=None, help="a matrix.json to diff against (default: the one already in --out)")
    p.add_argument("--parallel", action="store_true", help="all engines at once (CPU sweeps still take turns)")
    p.add_argument("--no-recheck", action="store_true",
                   help="one pass only: a difference between the releases is not measured again before it is reported")
    p.add_argument("--timeout", type=float, default=1800.0)
    add_cli_option(p, "--swarm-nodes", default="1", where="matrix: each release as a swarm of N inner engines, with the phase2x checkpoints")
    p.set_defaults(fn=_matrix, pytest_args=[])
    p = sub.add_parser("verify", help="check signed reports (ORCHLAB_SIGNING_KEY): valid, or exactly which values were changed")
    p.add_argument("reports", nargs="+", metavar="REPORT")
    p.set_defaults(fn=_verify)
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:  # everything after `--` is the students' pytest arguments, untouched by argparse
        argv, rest = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = parser.parse_args(argv)
    if rest and args.command not in ("grade", "matrix"):
        parser.error(f"{args.command} takes no arguments after --")
    args.pytest_args = rest if args.command in ("grade", "matrix") else []
    if args.command == "grade" and not (args.class_dir or args.roster):
        parser.error("grade needs a CLASS_DIR or --roster CSV")
    try:
        # Ctrl-C must stop grade and matrix cleanly even from a script's background; they stop each run with SIGINT too.
        with interrupts_clean_up(sigterm=False):
            print(args.fn(args))
    except Invalid as exc:
        print(exc.render("en"))
        return 1
    except OrchlabError as exc:
        print(f"orchlab {args.command}: {exc.render('en')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
