"""The Docker engine: connect through the Engine API, set one up from nothing, label and sweep."""

from __future__ import annotations

import functools
import os
import platform
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import requests.exceptions

from .errors import NotGradable
from .text import t
from .waiting import poll

RUN_LABEL = "orchlab.run"
OWNER_LABEL = "orchlab.owner"
DOCKERD_LOG = Path("/var/log/orchlab-dockerd.log")

Progress = Callable[[str], None]


def new_run_id() -> str:
    """A sortable, unique id for one run: ``20261123T0901-3f2a``."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2)


def owner_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def published_host() -> str:
    """Where published ports answer: the engine's host for ``tcp://``/``ssh://``, else this machine."""
    parsed = urlparse(engine_address())
    if parsed.scheme in ("tcp", "ssh", "http", "https") and parsed.hostname:
        return parsed.hostname
    return "127.0.0.1"


def _no_daemon(detail: str) -> NotGradable:
    where = engine_address()
    return NotGradable(
        t(
            f"Docker 엔진({where})이 응답하지 않습니다: {detail}",
            f"No Docker engine answers at {where}: {detail}",
        ),
        t(
            "`orchlab engine`을 실행하면 Debian(root)에서 docker.io를 설치하고 dockerd를 시작합니다. "
            "다른 환경에서는 Docker를 설치하고 시작하거나 DOCKER_HOST를 올바르게 설정하세요.",
            "run `orchlab engine`: on Debian as root it installs docker.io and starts dockerd. "
            "Elsewhere install and start Docker, or set DOCKER_HOST to a running engine.",
        ),
    )


def connect(timeout: float = 300.0) -> docker.DockerClient:
    """A client for the engine named by ``DOCKER_HOST`` (or the default socket), or :class:`NotGradable`."""
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _no_daemon(_plain(exc)) from None


def _plain(exc: BaseException) -> str:
    """The useful part of a connection error, not the SDK's nested reprs."""
    text = str(exc)
    for needle, plain in (("FileNotFoundError", "the socket file does not exist (dockerd not running?)"),
                          ("ConnectionRefusedError", "connection refused (nothing listens there)"),
                          ("PermissionError", "permission denied on the socket (add your user to the docker group)")):
        if needle in text:
            return plain
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


@dataclass
class Engine:
    """A connected engine and the labels this run puts on everything it creates."""

    client: docker.DockerClient
    run_id: str = field(default_factory=new_run_id)

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, OWNER_LABEL: owner_tag()}

    def describe(self) -> dict[str, Any]:
        info = self.client.version()
        return {
            "address": engine_address(),
            "version": info.get("Version"),
            "api_version": info.get("ApiVersion"),
            "os": info.get("Os"),
            "kernel": info.get("KernelVersion"),
        }

    def sweep(self, *, only_this_run: bool) -> list[str]:
        """Remove resources labelled by this run, or by runs whose process is gone."""
        keep = is_stale if not only_this_run else (lambda labels: labels.get(RUN_LABEL) == self.run_id)
        return sweep(self.client, keep)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(labels: dict[str, str]) -> bool:
    """True when the run that created a resource can no longer clean it up itself."""
    host, _, pid = labels.get(OWNER_LABEL, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        # Another machine's run may still be alive: only its own runs remove it, or `orchlab sweep --all`.
        return False
    return int(pid) != os.getpid() and not _pid_alive(int(pid))


def sweep(client: docker.DockerClient, select: Callable[[dict[str, str]], bool]) -> list[str]:
    """Remove every ``orchlab.run``-labelled service, container, network and image that ``select`` picks.

    Nothing without the label is ever looked at, so a student's own resources are safe.
    """
    removed: list[str] = []
    flt = {"label": RUN_LABEL}

    def gone(kind: str, name: str, action: Callable[[], object]) -> None:
        try:
            action()
            removed.append(f"{kind} {name}")
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError:
            pass  # reported by the caller's leftover check; never fatal during cleanup

    try:
        swarm = client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
            for svc in client.services.list(filters=flt):
                if select(svc.attrs["Spec"].get("Labels", {})):
                    gone("service", svc.name, svc.remove)
        for ctr in client.containers.list(all=True, filters=flt):
            if select(ctr.labels):
                gone("container", ctr.name, functools.partial(ctr.remove, force=True, v=True))

        def networks_gone() -> bool:
            left = [n for n in client.networks.list(filters=flt) if select(n.attrs.get("Labels") or {})]
            for net in left:
                gone("network", net.name, net.remove)
            return not [n for n in client.networks.list(filters=flt) if select(n.attrs.get("Labels") or {})]

        # An overlay network can be removed only once its task containers have detached.
        poll(networks_gone, bool, timeout=20, interval=0.5)
        for img in client.images.list(filters=flt):
            if select(img.labels or {}):
                gone("image", img.short_id, functools.partial(client.images.remove, img.id, force=True))
        if swarm.get("LocalNodeState") == "active":
            labels = dict(client.swarm.attrs.get("Spec", {}).get("Labels") or {}) if swarm.get("ControlAvailable") else {}
            if RUN_LABEL in labels and select(labels):
                gone("swarm", labels[RUN_LABEL], functools.partial(client.swarm.leave, force=True))
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        pass
    return removed


def leftovers(client: docker.DockerClient, run_id: str | None = None) -> list[str]:
    """What still carries this run's label (or any orchlab label): empty after a clean finish."""
    flt = {"label": f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
    found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    found += [f"image {i.short_id}" for i in client.images.list(filters=flt)]
    swarm = client.info().get("Swarm", {})
    if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
        found += [f"service {s.name}" for s in client.services.list(filters=flt)]
        labels = client.swarm.attrs.get("Spec", {}).get("Labels") or {}
        if RUN_LABEL in labels and (run_id is None or labels[RUN_LABEL] == run_id):
            found.append(f"swarm {labels[RUN_LABEL]}")
    return found


# --- setting an engine up from nothing (the `orchlab engine` command) -------------------------


def _is_debian_root() -> bool:
    return Path("/etc/debian_version").exists() and hasattr(os, "geteuid") and os.geteuid() == 0


def _daemon_answers() -> bool:
    try:
        docker.from_env(timeout=5).ping()
        return True
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False


def apt_install(*packages: str, progress: Progress = print) -> None:
    """``apt-get install`` on Debian as root; raises :class:`NotGradable` elsewhere."""
    if not _is_debian_root():
        raise NotGradable(
            t(f"{', '.join(packages)} 이(가) 필요합니다.", f"{', '.join(packages)} is needed."),
            t("패키지 관리자로 설치하세요.", "install it with your package manager."),
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    progress(f"orchlab: apt-get install {' '.join(packages)} ...")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def ensure_engine(progress: Progress = print, wait_s: float = 60.0) -> str:
    """Make a Docker engine answer: install ``docker.io`` and start ``dockerd`` on Debian as root.

    Returns a one-line account of what was done. Respects ``DOCKER_HOST``: a remote engine is only
    checked, never installed.
    """
    if _daemon_answers():
        return f"engine already answers at {engine_address()}"
    if "DOCKER_HOST" in os.environ and not os.environ["DOCKER_HOST"].startswith("unix://"):
        raise _no_daemon("DOCKER_HOST points at a remote engine that does not answer")
    if not _is_debian_root():
        raise _no_daemon(f"this is {platform.system()} without root/Debian, so orchlab will not install Docker")
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        apt_install("docker.io", progress=progress)
    progress(f"orchlab: starting {dockerd} (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(  # noqa: S603 - argv list, no shell
            [dockerd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    answered, _ = poll(_daemon_answers, bool, timeout=wait_s, interval=0.5)
    if not answered:
        tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-5:]
        raise _no_daemon(f"dockerd did not answer within {wait_s:.0f} s; last log lines: {' | '.join(tail)}")
    return f"started dockerd ({dockerd}) at {engine_address()}"
