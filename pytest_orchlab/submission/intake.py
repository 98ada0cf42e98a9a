"""A run's intake: the gate's snapshot of the student's folder, written into the run's own folder."""

from __future__ import annotations

import os
from typing import Any

from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.core.runs import run_folder
from pytest_orchlab.submission.snapshot import Caps, take


def snapshot(source: str | os.PathLike[str], run_id: str, caps: Caps | None = None) -> tuple[LabFolder, dict[str, Any]]:
    """Read ``source`` once through the gate; the :class:`LabFolder` of its snapshot and what the report says of it."""
    sub = take(source, caps or Caps())
    folder = run_folder(run_id) / "lab"
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    return sub.write(folder), sub.describe()
