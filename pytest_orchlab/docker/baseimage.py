"""A Python base image made without any registry (debootstrap + ``docker import``)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors

from pytest_orchlab.core.errors import NotGradable, OrchlabError
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import apt_install

DEFAULT_BASE_IMAGE = "orchlab/python-base:bookworm"
BASE_LABEL = "orchlab.base"
PACKAGES = "python3-flask,python3-pip,python-is-python3"


def base_image_present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def resolve_base_image(client: docker.DockerClient, given: str | None) -> str | None:
    """The base image a run builds with and copies into inner engines: the one given (``--base-image``,
    ``ORCHLAB_BASE_IMAGE``), else orchlab's own when it is on this engine, else None (the Dockerfile's ``FROM``)."""
    if given:
        return given
    return DEFAULT_BASE_IMAGE if base_image_present(client, DEFAULT_BASE_IMAGE) else None


def measuring_image(client: docker.DockerClient, given: str | None) -> str:
    """The image orchlab's own measuring containers run in (the in-network probe, the kernel-counter reader): the base
    image the run was given or orchlab's own, never the student's image, whose programs could forge what they print."""
    for name in (given, DEFAULT_BASE_IMAGE):
        if name and base_image_present(client, name):
            return name
    raise NotGradable(
        t("orchlab 의 측정 컨테이너를 실행할 이미지가 이 엔진에 없습니다 (학생의 이미지로는 측정하지 않습니다).",
          "There is no image of orchlab's own on this engine to run its measuring container in (a student's image is never used for that)."),
        t("`orchlab base-image` 로 레지스트리 없이 만드세요 (또는 --base-image 로 python3 가 있는 이미지를 주세요).",
          "build one with no registry: `orchlab base-image` (or give --base-image an image with python3)."))


@contextlib.contextmanager
def debootstrap(suite: str, packages: str, progress: Progress, about: str = "about a minute") -> Iterator[Path]:
    """A minimal Debian ``suite`` tree with ``packages`` in a temporary folder, removed afterwards."""
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap", progress=progress)
    with tempfile.TemporaryDirectory(prefix="orchlab-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        progress(f"orchlab: debootstrap {suite} with {packages} ({about}) ...")
        done = subprocess.run(["debootstrap", "--variant=minbase", f"--include={packages}", suite, str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            said = done.stderr.strip()[-300:]
            raise OrchlabError(t(f"debootstrap {suite} 가 실패했습니다: {said}", f"debootstrap {suite} failed: {said}"),
                               t("Debian 미러(deb.debian.org)에 닿는지 확인하세요.", "check that the Debian mirror (deb.debian.org) is reachable."))
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        yield root


def import_tree(client: docker.DockerClient, root: Path, name: str, changes: list[str], progress: Progress) -> None:
    """``tar -C root -c . | docker import --change ... - name``."""
    repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    progress(f"orchlab: docker import as {name} ...")
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    client.api.import_image_from_stream(tar.stdout, repository=repo, tag=tag, changes=changes)
    if tar.wait() != 0:
        raise OrchlabError(t("debootstrap 트리의 tar 가 실패했습니다.", "tar of the debootstrap tree failed."))


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
    with debootstrap(suite, PACKAGES, progress) as root:
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        import_tree(client, root, name, [f"LABEL {BASE_LABEL}={suite}", 'CMD ["python3"]', "ENV LANG=C.UTF-8"], progress)
    return f"built {name} from Debian {suite}"
