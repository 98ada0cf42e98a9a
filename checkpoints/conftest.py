"""Wherever the lab's checkpoints are collected (a checkout, or installed with the plugin), the lab is on."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from pytest_orchlab.session import activate

    activate(config)
