"""Fixtures for the real-engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    """A plain Engine API client, to look at what a run left behind."""
    c = docker.from_env()
    yield c
    c.close()
