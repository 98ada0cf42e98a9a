"""The ``pytest11`` entry point: options, markers, and the switch that turns the lab on.

Loaded by every pytest run in the environment, so it imports nothing heavy and changes nothing
until the run is about the lab (``--lab-dir``, ini ``orchlab_lab_dir``, a lab folder as the current
folder, or the lab's checkpoints being collected). Then :func:`pytest_orchlab.session.activate`
registers the lab's hooks and ``orchlab_*`` fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_orchlab.settings import add_options, lab_formats, lab_requested

JUNIT_DEFAULT = "orchlab-junit.xml"

CHECKPOINT_HELP = (
    "checkpoint(id, *, points=1, requires=(), phase=None, title=None): a graded lab checklist item with a stable id; "
    "it is reported blocked when a required checkpoint did not pass. phase and title are for a course's own checkpoints."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def lab_suite() -> Path:
    """The lab's checkpoints as installed with the plugin (``pytest_orchlab/checkpoints``), or a checkout's."""
    from importlib.util import find_spec

    try:
        spec = find_spec("pytest_orchlab.checkpoints")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest's junitxml plugin reads its path: `--lab-format junit[:PATH]` is its `--junitxml`.
    if config.getoption("lab_format", None) or lab_requested(config):
        junit = [path for name, path in lab_formats(config) if name == "junit"]
        if junit and not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = junit[0] or JUNIT_DEFAULT
    for phase, what in ((1, "single container"), (2, "Docker Swarm"), (3, "Kubernetes")):
        config.addinivalue_line("markers", f"phase{phase}: lab Phase {phase} ({what}) checkpoints")
    config.addinivalue_line("markers", "phase2x: Docker Swarm on several nodes (drain, node loss, placement); run with --swarm-nodes 3")
    config.addinivalue_line("markers", CHECKPOINT_HELP)
    about_lab = lab_requested(config)
    if not (about_lab or config.getoption("lab_report", None) or config.getoption("lab_format", None) or config.getoption("lab_html", None)):
        return  # a run given --lab-report or --lab-format is about the lab too (a course's own checkpoints)
    from pytest_orchlab.session import activate

    activate(config)
    # `pytest -m phase1` in a lab folder (or with --lab-dir) and no path given: collect the lab's suite too.
    if about_lab and config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
        config.args.append(str(lab_suite()))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A checkpoint is never an ordinary test: one collected while the lab is off stops the run and says what is missing."""
    if config.pluginmanager.has_plugin("orchlab-session"):
        return
    marked = [item.nodeid for item in items if item.get_closest_marker("checkpoint") is not None]
    if marked:
        more = f" (and {len(marked) - 1} more)" if len(marked) > 1 else ""
        raise pytest.UsageError(
            f"{marked[0]}{more} is a lab checkpoint (@pytest.mark.checkpoint), but the lab is off, so it would pass or fail as a plain "
            "test with no verdict and no report: give --lab-dir PATH (the student's lab folder), run inside a lab folder, "
            "or set the ini key orchlab_lab_dir.")
