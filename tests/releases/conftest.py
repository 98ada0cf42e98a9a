"""Shared by the Docker-release tests: a host engine client with the engine images these tests start."""

from __future__ import annotations

import docker
import pytest

from pytest_orchlab.docker.engines import build_engine_image


def labelled(client: docker.DockerClient, label: str) -> list[str]:
    """Containers, volumes and networks carrying ``label`` (``key`` or ``key=value``): none may be left."""
    flt = {"label": label}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
            + [f"network {n.name}" for n in client.networks.list(filters=flt)])


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    c = docker.from_env()
    for release in ("20.10", "26.1"):
        print(build_engine_image(c, release))  # cached after the first build on a machine
    return c
