"""``orchlab``: set up an engine, build the offline base image, sweep leftovers, benchmark the load."""

from __future__ import annotations

import argparse
import shutil
import sys

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.labdir import DEFAULT_LAB_DIR
from pytest_orchlab.docker.baseimage import DEFAULT_BASE_IMAGE, build_base_image
from pytest_orchlab.docker.engine import RUN_LABEL, Engine, apt_install, connect, ensure_engine


def _engine(_: argparse.Namespace) -> str:
    return ensure_engine()


def _base_image(args: argparse.Namespace) -> str:
    client = connect()
    if args.remove:
        client.images.remove(args.name)
        return f"removed {args.name}"
    return build_base_image(client, args.name, rebuild=args.rebuild)


def _sweep(args: argparse.Namespace) -> str:
    from pytest_orchlab.docker.sweep import forget_dead_runs, run_alive, sweep

    done = sweep(connect(), (lambda run: True) if args.all else (lambda run: not run_alive(run)))
    forget_dead_runs()
    lines = ["removed: " + (", ".join(done.removed) if done.removed else "nothing")]
    return "\n".join(lines + [f"could not remove {f}" for f in done.failed])


def _bench(args: argparse.Namespace) -> str:
    from pytest_orchlab.core.labdir import LabFolder
    from pytest_orchlab.docker.container import WebContainer
    from pytest_orchlab.docker.image import IMAGE_STEP, ImageBuilder
    from pytest_orchlab.measure.bench import compare, table
    from pytest_orchlab.measure.cpu import CpuSampler

    lab = LabFolder.at(args.lab_dir)
    lab.require(lab.app_py, lab.dockerfile, step=IMAGE_STEP)
    if shutil.which("ab") is None:
        apt_install("apache2-utils")  # Apache Bench, the yardstick; explains what to do off Debian
    from pytest_orchlab.docker.sweep import RunLock, sweep

    engine = Engine.connect()
    with RunLock(engine.run_id):
        try:
            image = ImageBuilder(engine, args.base_image).build(lab.phase1, "simple-web:v1")
            with WebContainer(engine, image, host_port=args.port) as web:
                host, port = web.bridge_address() or (web.host, web.host_port)
                with CpuSampler(web.container) as app:
                    rows = compare(host, port, tuple(args.levels), args.seconds, args.rounds, app)
        finally:
            sweep(engine.client, lambda run: run == engine.run_id)
    lines = [f"target {host}:{port} (lab app from {lab.phase1}), {args.seconds:g} s per run, "
             f"medians of {args.rounds} alternating rounds"]
    return "\n".join(lines + table(rows))


def _cluster(args: argparse.Namespace) -> str:
    from pytest_orchlab.kube import cluster

    if args.action == "up":
        return cluster.up(args.k3s)
    if args.action == "down":
        return cluster.down()
    return cluster.status()


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
    p.add_argument("--lab-dir", default=DEFAULT_LAB_DIR, help="the lab folder whose phase1/ app is loaded (tox -e bench: sample_app/)")
    p.add_argument("--base-image", default=None)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--levels", type=int, nargs="+", default=[200, 600])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per tool and level (medians are printed)")
    p.set_defaults(fn=_bench)
    args = parser.parse_args(argv)
    try:
        print(args.fn(args))
    except OrchlabError as exc:
        print(f"orchlab {args.command}: {exc.render('en')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
