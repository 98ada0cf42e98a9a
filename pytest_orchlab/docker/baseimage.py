"""A Python base image made without any registry (debootstrap + ``docker import``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import docker
import docker.errors

from pytest_orchlab.docker.engine import Progress, apt_install

DEFAULT_BASE_IMAGE = "orchlab/python-base:bookworm"
BASE_LABEL = "orchlab.base"
PACKAGES = "python3-flask,python3-pip,python-is-python3"


def base_image_present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base_image(
    client: docker.DockerClient,
    name: str = DEFAULT_BASE_IMAGE,
    *,
    rebuild: bool = False,
    suite: str = "bookworm",
    progress: Progress = print,
) -> str:
    """Build ``name`` from Debian packages so ``FROM python:3.9-slim`` Dockerfiles build offline.

    Flask and pip come from Debian, ``python`` points at python3, and the PEP 668 marker is removed
    so the lab's ``RUN pip install flask`` finds Flask already satisfied. Cached: an existing image
    is kept unless ``rebuild``. This image is a deliberate, reusable cache made by an explicit
    command, so it carries ``orchlab.base`` and not a run label; `orchlab base-image --remove` drops it.
    """
    if base_image_present(client, name) and not rebuild:
        return f"{name} already present (cached; --rebuild to make it again)"
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap", progress=progress)
    with tempfile.TemporaryDirectory(prefix="orchlab-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        progress(f"orchlab: debootstrap {suite} with {PACKAGES} (about a minute) ...")
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", suite, str(root)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
        progress(f"orchlab: docker import as {name} ...")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        client.api.import_image_from_stream(
            tar.stdout,
            repository=repo,
            tag=tag,
            changes=[f"LABEL {BASE_LABEL}={suite}", 'CMD ["python3"]', "ENV LANG=C.UTF-8"],
        )
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap tree failed")
    return f"built {name} from Debian {suite}"
