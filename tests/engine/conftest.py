"""Fixtures for the real-engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from testcontainers.core.config import testcontainers_config

# Our own canary containers (testcontainers in this test process): Ryuk is an image from a registry, none here.
# This is the test suite's own setting; the plugin itself never changes it (see test_plugin.py).
testcontainers_config.ryuk_disabled = True


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    """A plain Engine API client, to look at what a run left behind."""
    c = docker.from_env()
    yield c
    c.close()
