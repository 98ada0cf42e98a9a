"""pytest-orchlab: the orchestration lab's checklist as gradable pytest checkpoints.

The public names are resolved on first use: pytest imports this package for its entry point in every
run of the environment, and the Docker SDK behind :class:`Engine` must not be paid for there.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_orchlab.core.errors import CheckpointTimeout, LabInputError, NotGradable, OrchlabError
    from pytest_orchlab.core.labdir import LabFolder
    from pytest_orchlab.docker.engine import Engine, connect
    from pytest_orchlab.results.verdict import Verdict

_PUBLIC = {
    "CheckpointTimeout": "pytest_orchlab.core.errors",
    "LabInputError": "pytest_orchlab.core.errors",
    "NotGradable": "pytest_orchlab.core.errors",
    "OrchlabError": "pytest_orchlab.core.errors",
    "LabFolder": "pytest_orchlab.core.labdir",
    "Engine": "pytest_orchlab.docker.engine",
    "connect": "pytest_orchlab.docker.engine",
    "Verdict": "pytest_orchlab.results.verdict",
}
__all__ = ["CheckpointTimeout", "Engine", "LabFolder", "LabInputError", "NotGradable", "OrchlabError", "Verdict", "connect"]
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'pytest_orchlab' has no attribute {name!r}")
