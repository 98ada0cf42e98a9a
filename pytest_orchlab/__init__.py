"""pytest-orchlab: the orchestration lab's checklist as gradable pytest checkpoints."""

from __future__ import annotations

from .engine import Engine, connect
from .errors import CheckpointTimeout, LabInputError, NotGradable, OrchlabError
from .grading import Verdict
from .labdir import LabFolder

__all__ = ["CheckpointTimeout", "Engine", "LabFolder", "LabInputError", "NotGradable", "OrchlabError", "Verdict", "connect"]
__version__ = "0.1.0"
