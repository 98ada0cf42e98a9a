"""The run's settings and where each value came from: command line > environment > ini > default.

Nothing here is read until the lab is used: an invalid ``ORCHLAB_LANG`` must not break the test run
of an unrelated project in the same environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_orchlab.core.labdir import DEFAULT_LAB_DIR, looks_like_lab, single_lab_below

LANGS = ("ko", "en")  # as pytest_orchlab.core.text, which this switch does not import in unrelated runs

PRECEDENCE = "Precedence: command line > environment variable > ini file > default."


def instance_choice(value: str) -> str:
    """``type=`` for ``--lab-instance``: lower-case letters, digits and dashes, at most 20."""
    from pytest_orchlab.core.names import valid_instance

    if not valid_instance(value):
        raise pytest.UsageError(f"--lab-instance must be 1-20 lower-case letters, digits or dashes, not {value!r}")
    return value


def lang_choice(value: str) -> str:
    """``type=`` for ``--lab-lang``: a clean usage error instead of a traceback."""
    if value not in LANGS:
        raise pytest.UsageError(f"--lab-lang must be one of {', '.join(LANGS)}, not {value!r}")
    return value


def nodes_choice(value: str) -> str:
    """``type=`` for ``--swarm-nodes``: 1 (this engine alone) to 5."""
    if not value.strip().isdigit() or not 1 <= int(value) <= 5:
        raise pytest.UsageError(f"--swarm-nodes must be a number of nodes from 1 to 5, not {value!r}")
    return value.strip()


def release_choice(value: str) -> str:
    """``type=`` for ``--swarm-release``: a Docker release orchlab can build offline."""
    from pytest_orchlab.core.errors import OrchlabError
    from pytest_orchlab.docker.engines import release_of

    try:
        return release_of(value)
    except OrchlabError as exc:
        raise pytest.UsageError(f"--swarm-release: {exc.render('en')}") from None


@dataclass(frozen=True)
class Option:
    flag: str
    env: str
    default: str | None
    help: str
    check: Callable[[str], str] = str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        """The ini key: the environment variable's name in lower case (``orchlab_lab_dir`` ...)."""
        return self.env.lower()


OPTIONS: tuple[Option, ...] = (
    Option("--lab-dir", "ORCHLAB_LAB_DIR", DEFAULT_LAB_DIR,
           "the student's lab folder (phase1/app.py, phase1/Dockerfile, phase2/docker-compose.yml); "
           f"default: the current folder if it is a lab folder, else {DEFAULT_LAB_DIR}"),
    Option("--base-image", "ORCHLAB_BASE_IMAGE", None,
           "build with IMAGE in place of the Dockerfile's FROM image (offline; see `orchlab base-image`); "
           "the student's Dockerfile is not touched"),
    Option("--lab-lang", "ORCHLAB_LANG", "ko", "language of results: ko or en; default ko", lang_choice),
    Option("--lab-report", "ORCHLAB_REPORT", None, "write the versioned JSON report to PATH"),
    Option("--lab-html", "ORCHLAB_HTML", None,
           "also write the report as one self-contained HTML page to PATH: a card per checkpoint, the experiments drawn"),
    Option("--kubeconfig", "ORCHLAB_KUBECONFIG", None,
           "Phase 3: the kubeconfig file to use (else KUBECONFIG, ~/.kube/config, then the running orchlab cluster)"),
    Option("--kube-context", "ORCHLAB_KUBE_CONTEXT", None, "Phase 3: the kubeconfig context to use (default: its current context)"),
    Option("--lab-instance", "ORCHLAB_INSTANCE", None,
           "run as one of several lab runs on one engine (orchlab grade --jobs sets it): names get this suffix "
           "(web-app-NAME, stack webapp-NAME) and published ports are chosen free", instance_choice),
    Option("--swarm-nodes", "ORCHLAB_SWARM_NODES", "1",
           "run on a swarm of N nodes made of inner engines (one manager, N-1 workers; see `orchlab engines`), "
           "and the multi-node checkpoints (marker phase2x); default 1: this engine alone", nodes_choice),
    Option("--lab-prior", "ORCHLAB_PRIOR", None,
           "continue the lab run whose report is PATH (orchlab grade's schedule runs Phase 1 and the rest in two sessions): "
           "its results count as this run's, and the report written is the whole lab's"),
    Option("--swarm-release", "ORCHLAB_SWARM_RELEASE", "20.10",
           "with --swarm-nodes: the Docker release of the nodes (20.10, 26.1 or 28.5); default 20.10", release_choice),
)


FORMATS = ("gradescope", "classroom", "prairielearn", "junit", "markdown")  # as pytest_orchlab.results.formats
FORMAT_ENV = "ORCHLAB_FORMATS"


def format_choice(value: str) -> str:
    """``type=`` for ``--lab-format FORMAT[:PATH]``."""
    name = value.partition(":")[0].strip().lower()
    if name not in FORMATS:
        raise pytest.UsageError(f"--lab-format {value!r}: unknown format {name!r}; choose from {', '.join(FORMATS)} (FORMAT[:PATH])")
    return value


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("orchlab", "pytest-orchlab: grade the orchestration lab. " + PRECEDENCE)
    for opt in OPTIONS:
        help_text = f"{opt.help} [env {opt.env}, ini {opt.ini}]"
        group.addoption(opt.flag, dest=opt.dest, default=None, type=opt.check, help=help_text)
        parser.addini(opt.ini, help=help_text, default=None)
    help_text = (f"also write the results for a grader: {', '.join(FORMATS)}; repeatable; PATH defaults per format "
                 f"(junit is pytest's own --junitxml with each checkpoint's properties) [env {FORMAT_ENV}, comma-separated; "
                 "ini orchlab_formats, one per line]")
    group.addoption("--lab-format", dest="lab_format", action="append", default=None, type=format_choice,
                    metavar="FORMAT[:PATH]", help=help_text)
    parser.addini("orchlab_formats", help=help_text, type="linelist", default=[])


def lab_formats(config: pytest.Config) -> list[tuple[str, str | None]]:
    """The grader formats asked for: command line, else ``ORCHLAB_FORMATS``, else ini ``orchlab_formats``."""
    given: list[str] = config.getoption("lab_format", None) or []
    source = "command line"
    if not given and os.environ.get(FORMAT_ENV):
        given, source = [v for v in os.environ[FORMAT_ENV].split(",") if v.strip()], f"environment {FORMAT_ENV}"
    if not given:
        given, source = list(config.getini("orchlab_formats") or []), "ini orchlab_formats"
    out = []
    for spec in given:
        try:
            format_choice(spec)
        except pytest.UsageError as exc:
            raise pytest.UsageError(f"{exc} (from {source})") from None
        name, _, path = spec.partition(":")
        out.append((name.strip().lower(), path or None))
    return out


def lab_requested(config: pytest.Config) -> bool:
    """True when this pytest run is about the lab: ``--lab-dir``, ini ``orchlab_lab_dir``, run in a lab folder, or run with
    no test paths in a folder that holds exactly one (``pytest -m phase1`` one level above ``orchestration-lab/``)."""
    here = config.invocation_params.dir
    return bool(config.getoption("lab_dir", None) or config.getini("orchlab_lab_dir") or looks_like_lab(here)
                or (_no_paths(config) and single_lab_below(here)))


def _no_paths(config: pytest.Config) -> bool:
    """``pytest -m phase1`` with no test paths: only then does a folder holding one lab folder mean that lab."""
    return config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR


@dataclass(frozen=True)
class Settings:
    lab_dir: str
    base_image: str | None
    lang: str
    report: str | None
    sources: dict[str, str]
    kubeconfig: str | None = None
    kube_context: str | None = None
    formats: tuple[tuple[str, str | None], ...] = ()
    instance: str | None = None
    swarm_nodes: int = 1
    swarm_release: str = "20.10"
    prior: str | None = None
    html: str | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        values: dict[str, str | None] = {}
        sources: dict[str, str] = {}
        here = Path(config.invocation_params.dir)
        for opt in OPTIONS:
            value, source = config.getoption(opt.dest), "command line"
            if value is None and os.environ.get(opt.env):
                value, source = os.environ[opt.env], f"environment {opt.env}"
            if value is None and config.getini(opt.ini):
                value, source = str(config.getini(opt.ini)), f"ini {opt.ini} in {config.inipath}"
            if value is None and opt.dest == "lab_dir" and looks_like_lab(here):
                value, source = str(here), "the current folder (a lab folder)"
            if value is None and opt.dest == "lab_dir" and _no_paths(config) and (inner := single_lab_below(here)) is not None:
                value, source = str(inner), f"the one lab folder in the current folder ({inner.name}/)"
            if value is None:
                value, source = opt.default, "default"
            if value is not None and source != "command line":
                try:
                    value = opt.check(value)
                except pytest.UsageError as exc:
                    raise pytest.UsageError(f"{exc} (from {source})") from None
            values[opt.dest], sources[opt.dest] = value, source
        return cls(
            lab_dir=values["lab_dir"] or DEFAULT_LAB_DIR,
            base_image=values["base_image"],
            lang=values["lab_lang"] or "ko",
            report=values["lab_report"],
            sources=sources,
            kubeconfig=values["kubeconfig"],
            kube_context=values["kube_context"],
            formats=tuple(lab_formats(config)),
            instance=values["lab_instance"],
            swarm_nodes=int(values["swarm_nodes"] or 1),
            swarm_release=values["swarm_release"] or "20.10",
            prior=values["lab_prior"],
            html=values["lab_html"],
        )


def add_cli_option(parser: Any, flag: str, *, default: str | None = None, where: str = "") -> None:
    """An ``orchlab`` command's copy of a pytest option: the same flag, help and check as :data:`OPTIONS` (``where`` says
    what the option means for that command, ``default`` its default there)."""
    import argparse

    opt = next(o for o in OPTIONS if o.flag == flag)

    def check(value: str) -> str:
        try:
            return opt.check(value)
        except pytest.UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    shown = f" [{where}]" if where else ""
    parser.add_argument(flag, dest=opt.dest, default=default, type=check, help=f"{opt.help}{shown}")
