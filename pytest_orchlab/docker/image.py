"""Building the lab's images from the student's folder, offline-capable and cached by content."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from pytest_orchlab.core.errors import LabInputError, NotGradable
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.runs import scratch
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.docker.engines import copy_image

# [ \t], not \s: with MULTILINE a \s* at a line's start runs over every blank line after it (16,000 blank lines took 7 s).
FROM_RE = re.compile(r"^([ \t]*FROM[ \t]+)((?:--\S+[ \t]+)*)(\S+)(.*)$", re.IGNORECASE | re.MULTILINE)
PULL_FAILURE = re.compile(
    r"pull access denied|manifest unknown|no such host|dial tcp|TLS handshake|i/o timeout|"
    r"failed to resolve|connection refused|repository does not exist|Temporary failure in name resolution",
    re.IGNORECASE,
)
# The engine, not the Dockerfile, failed to run a build step's container: an environment fault.
ENGINE_FAULT = re.compile(r"failed to set up container networking|OCI runtime|failed to create shim|failed to configure ipv6", re.I)
IMAGE_STEP = t("실습 환경 준비 (app.py, Dockerfile)", "the lab's environment setup (app.py, Dockerfile)")
BUILD_LIMITS = {"memory": 2 << 30}  # each RUN step's container: 2 GiB (pip install of the lab's Flask takes about 100 MB)
BUILD_TIMEOUT_S = 300  # a build step silent for this long is ended (closing the request cancels the build)


def rewrite_from(dockerfile: str, base_image: str | None) -> tuple[str, list[tuple[str, str]]]:
    """Replace every external ``FROM`` image with ``base_image``; stage names are left alone.

    Returns the new text and the ``(old, new)`` pairs, so the evidence can say what was swapped.
    """
    if not base_image:
        return dockerfile, []
    stages: set[str] = set()
    swaps: list[tuple[str, str]] = []

    def swap(match: re.Match[str]) -> str:
        head, flags, image, rest = match.groups()
        alias = re.search(r"\s+AS\s+(\S+)", rest, re.IGNORECASE)
        if alias:
            stages.add(alias.group(1).lower())
        if image.lower() in stages or image == base_image:
            return match.group(0)
        swaps.append((image, base_image))
        return f"{head}{flags}{base_image}{rest}"

    return FROM_RE.sub(swap, dockerfile), swaps


def from_images(dockerfile: str) -> list[str]:
    """The images named by ``FROM`` lines, in order."""
    return [m.group(3) for m in FROM_RE.finditer(dockerfile)]


def context_digest(root: Path, extra: str = "") -> str:
    """A content hash of a build context (paths, bytes, link targets; links never followed) plus ``extra``."""
    h = hashlib.sha256(extra.encode())
    found: list[tuple[str, bytes]] = []
    for folder, dirs, files in os.walk(root):  # os.walk does not descend into links to folders
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            found.append((rel, b"L" + os.readlink(path).encode() if os.path.islink(path) else b"F" + Path(path).read_bytes()))
    for rel, content in sorted(found):
        h.update(rel.encode() + b"\0" + content + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class BuiltImage:
    """An image this run built; ``tag`` is ours, ``lab_tag`` the name the lab gives it."""

    lab_tag: str
    tag: str
    image_id: str
    digest: str
    seconds: float
    cached: bool
    from_swaps: tuple[tuple[str, str], ...]
    dockerfile: str = "Dockerfile"  # the name the student saved it under (Dockerfile or dockerfile)


class BuildFailed(LabInputError):
    """``docker build`` failed for a reason in the student's files."""

    def __init__(self, lab_tag: str, log_tail: list[str]) -> None:
        tail = " | ".join(log_tail)
        super().__init__(
            t(f"{lab_tag} 이미지 빌드가 실패했습니다. 빌드 로그 끝: {tail}", f"Building {lab_tag} failed. Build log ends: {tail}"),
            t("빌드 로그의 오류를 Dockerfile 에서 고치세요.", "fix the error the build log shows in your Dockerfile."),
        )
        self.log_tail = log_tail


@dataclass
class ImageBuilder:
    """Builds lab images once per content: the same files and base give the same image."""

    engine: Engine
    base_image: str | None = None
    progress: Progress = print
    _built: dict[str, BuiltImage] = field(default_factory=dict)

    def _base_id(self) -> str:
        if not self.base_image:
            return ""
        try:
            return str(self.engine.client.images.get(self.base_image).id)
        except docker.errors.ImageNotFound:
            raise NotGradable(
                t(f"--base-image {self.base_image} 이미지가 이 엔진에 없습니다.", f"--base-image {self.base_image} is not on this engine."),
                t(
                    "`orchlab base-image`로 레지스트리 없이 만들 수 있습니다.",
                    "`orchlab base-image` builds it with no registry.",
                ),
            ) from None

    def build(self, source: Path, lab_tag: str, transform: Callable[[Path], None] | None = None,
              dockerfile_name: str = "Dockerfile") -> BuiltImage:
        """Build ``source`` (the gate's snapshot of ``phase1/``, copied, never modified) as ``lab_tag``;
        ``transform`` edits the copy. The copy lives in the run's own folder and goes with it."""
        work = scratch(self.engine.run_id, "build-")
        try:
            return self._build(work / "context", source, lab_tag, transform, dockerfile_name)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _build(self, ctx: Path, source: Path, lab_tag: str, transform: Callable[[Path], None] | None, dockerfile_name: str) -> BuiltImage:
        shutil.copytree(source, ctx, symlinks=True)  # the snapshot's links all point inside it: kept as links
        if transform is not None:
            transform(ctx)
        dockerfile = ctx / dockerfile_name
        raw = dockerfile.read_bytes()
        # The snapshot checked it is UTF-8; a BOM and CRLF are what Windows editors save and Docker accepts.
        text, swaps = rewrite_from(raw.decode("utf-8-sig").replace("\r\n", "\n"), self.base_image)
        dockerfile.write_text(text)
        digest = context_digest(ctx, self._base_id())
        if digest in self._built:
            hit = self._built[digest]
            return BuiltImage(lab_tag, hit.tag, hit.image_id, digest, 0.0, True, hit.from_swaps, dockerfile_name)
        name = lab_tag.split(":")[0]
        # Content hash for the cache, run id so that two runs on one engine never move each other's tag.
        tag = f"orchlab/{name}:{lab_tag.split(':')[-1]}-{digest[:12]}-{self.engine.run_id.lower()}"
        self.progress(f"orchlab: docker build {lab_tag} from the lab's phase1/ ...")
        start = time.monotonic()
        try:
            image, _ = self.engine.client.images.build(
                path=str(ctx), dockerfile=dockerfile_name, tag=tag, labels=self.engine.labels, rm=True, forcerm=True, pull=False,
                container_limits=BUILD_LIMITS, timeout=BUILD_TIMEOUT_S,
            )
        except requests.exceptions.ReadTimeout:
            raise BuildFailed(lab_tag, [f"a build step gave no output for {BUILD_TIMEOUT_S} s and the build was stopped"]) from None
        except docker.errors.BuildError as exc:
            lines = [str(c.get("stream") or c.get("error") or "").strip() for c in exc.build_log]
            lines = [ln for ln in lines if ln]
            tail = lines[-4:] or [str(exc)]
            failed_at_from = any(ln.upper().startswith("STEP") and " FROM " in ln.upper() for ln in lines[-3:])
            if failed_at_from or (PULL_FAILURE.search(str(exc)) and len(lines) <= 3):
                images = ", ".join(from_images(text))
                raise NotGradable(
                    t(
                        f"베이스 이미지 {images} 를 가져올 수 없습니다(레지스트리에 접근 불가): {tail[-1]}",
                        f"The base image {images} cannot be pulled (no registry reachable): {tail[-1]}",
                    ),
                    t(
                        "오프라인이면 `orchlab base-image`로 베이스 이미지를 만들고 "
                        "`--base-image orchlab/python-base:bookworm`을 주세요.",
                        "offline, build a base with `orchlab base-image` and pass "
                        "`--base-image orchlab/python-base:bookworm`.",
                    ),
                ) from None
            if any(ENGINE_FAULT.search(line) for line in tail):
                raise NotGradable(
                    t(f"엔진이 빌드 단계의 컨테이너를 실행하지 못했습니다 (Dockerfile 의 문제가 아님): {tail[-1]}",
                      f"The engine could not run a build step's container (not a fault of the Dockerfile): {tail[-1]}"),
                    t("`docker info` 와 dockerd 로그를 확인하세요; 내부 엔진이면 `orchlab engines status` 의 실행 방식을 보세요.",
                      "check `docker info` and the dockerd log; for an inner engine, see how it runs in `orchlab engines status`."),
                ) from None
            raise BuildFailed(lab_tag, tail) from None
        except docker.errors.APIError as exc:
            # The engine rejects a Dockerfile it cannot parse (e.g. an unknown instruction) up front.
            raise BuildFailed(lab_tag, [str(exc.explanation or exc)]) from None
        for peer in self.engine.peers:  # no registry: a worker node gets the image as `docker save | docker load`
            copy_image(self.engine.client, peer.client, tag, self.progress)
        built = BuiltImage(lab_tag, tag, str(image.id), digest, time.monotonic() - start, False, tuple(swaps), dockerfile_name)
        self._built[digest] = built
        return built
