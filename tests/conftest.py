"""Fixtures for pytest-orchlab's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import SAMPLE

pytest_plugins = ["pytester"]


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    """A private copy of the reference lab folder to break on purpose."""
    dest = tmp_path / "lab"
    shutil.copytree(SAMPLE, dest)
    return dest
