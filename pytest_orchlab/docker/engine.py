"""The Docker engine: one address for every client, set one up from nothing, the run's labels."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import docker.constants
import docker.errors
import requests.exceptions

from pytest_orchlab.core.errors import NotGradable
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.text import t
from pytest_orchlab.measure.clock import rfc3339
from pytest_orchlab.measure.waiting import poll

RUN_LABEL = "orchlab.run"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
DOCKERD_LOG = Path("/var/log/orchlab-dockerd.log")



def new_run_id() -> str:
    """A sortable, unique id for one run that also tells its start: ``20261123T090102Z-3f2a`` (UTC)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(2).hex()


def resolve_address() -> tuple[str, str]:
    """The engine this run talks to, and why: ``DOCKER_HOST``, then the current docker context, then the socket.

    Resolved once per run and handed to the SDK, to testcontainers and to every ``docker`` CLI call,
    so that they cannot each pick another engine.
    """
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"], "DOCKER_HOST"
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
    except Exception:  # noqa: BLE001 - an unreadable docker config means: no context chosen
        context = None
    if context is not None and context.Name != "default" and context.Host:
        return str(context.Host), f"docker context {context.Name}"
    return DEFAULT_SOCKET, "default socket"


def _no_daemon(where: str, detail: str) -> NotGradable:
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


def connect(address: str | None = None, timeout: float = 300.0) -> docker.DockerClient:
    """A client for ``address`` (default: :func:`resolve_address`), or :class:`NotGradable`."""
    address = address or resolve_address()[0]
    try:
        client = client_for(address, timeout)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _no_daemon(address, _plain(exc)) from None


def client_for(address: str, timeout: float = 300.0, tls: Any = None) -> docker.DockerClient:
    """An SDK client for ``address``; a ``tcp://`` engine with TLS when ``tls`` is given or the environment says so
    (``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, as the Docker CLI reads them)."""
    from pytest_orchlab.docker.tls import tls_from_env

    if tls is None and address.startswith(("tcp://", "https://")):
        tls = tls_from_env()
    if not tls:
        return docker.DockerClient(base_url=address, timeout=int(timeout), tls=False)
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace the session's CA (the engine's), so on a machine that
    # sets them for its own CAs every engine's certificate would be refused: the engine's CA is the only one that
    # counts. The SDK asks for the API version while it is built, so that first question goes through a client that
    # already ignores the environment, and the real one is built with its answer.
    probe = docker.APIClient(base_url=address, timeout=int(timeout), tls=tls, version=docker.constants.MINIMUM_DOCKER_API_VERSION)
    probe.trust_env = False
    try:
        version = str(probe.version(api_version=False)["ApiVersion"])
    except requests.exceptions.RequestException as exc:
        raise docker.errors.DockerException(f"Error while fetching server API version: {exc}") from exc
    finally:
        probe.close()
    client = docker.DockerClient(base_url=address, timeout=int(timeout), tls=tls, version=version)
    client.api.trust_env = False
    return client


def _plain(exc: BaseException) -> str:
    """The useful part of a connection error, not the SDK's nested reprs."""
    text = str(exc)
    for needle, plain in (("FileNotFoundError", "the socket file does not exist (dockerd not running?)"),
                          ("ConnectionRefusedError", "connection refused (nothing listens there)"),
                          ("PermissionError", "permission denied on the socket (add your user to the docker group)")):
        if needle in text:
            return plain
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


@dataclass(frozen=True)
class Peer:
    """Another engine of the run's multi-node swarm (``--swarm-nodes``): a worker, reached directly."""

    name: str  # its hostname, as ``docker node ls`` shows it
    client: docker.DockerClient
    address: str

    @property
    def host(self) -> str:
        return urlparse(self.address).hostname or ""


@dataclass
class Engine:
    """A connected engine, the address every client of this run uses, and the run's labels.

    ``peers`` are the other nodes of a swarm this run built (``--swarm-nodes``): a task's container
    lives on whichever node runs it, so container lookups and events span them all.
    """

    client: docker.DockerClient
    run_id: str = field(default_factory=new_run_id)
    address: str = DEFAULT_SOCKET
    source: str = "default socket"
    peers: list[Peer] = field(default_factory=list)

    @classmethod
    def connect(cls, run_id: str | None = None) -> Engine:
        address, source = resolve_address()
        return cls(connect(address), run_id or new_run_id(), address, source)

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id}

    @property
    def published_host(self) -> str:
        """Where published ports answer: the engine's host for ``tcp://``/``ssh://``, else this machine."""
        parsed = urlparse(self.address)
        if parsed.scheme in ("tcp", "ssh", "http", "https") and parsed.hostname:
            return parsed.hostname
        return "127.0.0.1"

    @property
    def clients(self) -> list[docker.DockerClient]:
        """This engine's client, then every peer's."""
        return [self.client, *(p.client for p in self.peers)]

    def container(self, ref: str) -> docker.models.containers.Container:
        """A container by id or name on this engine or, failing that, on a peer (a task on a worker node)."""
        for client in self.clients[:-1]:
            try:
                return client.containers.get(ref)
            except docker.errors.NotFound:
                continue
        return self.clients[-1].containers.get(ref)

    def cli(self, *args: str) -> list[str]:
        """argv for the ``docker`` CLI aimed at this engine (``-H`` overrides any context or DOCKER_HOST)."""
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise NotGradable(
                t("docker CLI가 없습니다: stack deploy 는 CLI 기능입니다.", "The docker CLI is missing: stack deploy is a CLI feature."),
                t("docker.io(Debian) 또는 docker-ce-cli 를 설치하세요.", "install docker.io (Debian) or docker-ce-cli."),
            )
        return [docker_cli, "-H", self.address, *args]

    def cli_env(self, home: Path) -> dict[str, str]:
        """The ``docker`` CLI's whole environment: a PATH, a private HOME and config folder (``home``), the TLS
        settings this engine needs, and nothing else of ours (``stack deploy`` would fill ``${...}`` from it)."""
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker"), "LANG": "C.UTF-8"}
        env.update({k: os.environ[k] for k in ("DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY") if os.environ.get(k)})
        return env

    def client_kwargs(self) -> dict[str, Any]:
        """What testcontainers passes to ``docker.from_env``: this engine's address, not its own lookup."""
        env = {"DOCKER_HOST": self.address}
        env.update({k: os.environ[k] for k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH") if os.environ.get(k)})
        return {"environment": env, "version": self.client.api.api_version}  # known: no request before own_ca

    def own_ca(self, client: docker.DockerClient) -> None:
        """Let a client made from :meth:`client_kwargs` trust this engine's CA only (see :func:`client_for`)."""
        if self.client.api.trust_env is False:
            client.api.trust_env = False

    @cached_property
    def clock_offset(self) -> float:
        """Engine clock minus this machine's clock, in seconds (0 for an engine on this machine's kernel)."""
        before = time.time()
        stamp = self.client.info().get("SystemTime", "")
        after = time.time()
        engine_now = rfc3339(stamp)
        return 0.0 if engine_now is None else engine_now - (before + after) / 2

    def now(self) -> float:
        """The engine's wall clock: what event and task timestamps are compared with."""
        return time.time() + self.clock_offset

    def describe(self) -> dict[str, Any]:
        info = self.client.version()
        return {
            "address": self.address,
            "address_source": self.source,
            "id": self.client.info().get("ID"),
            "version": info.get("Version"),
            "api_version": info.get("ApiVersion"),
            "os": info.get("Os"),
            "kernel": info.get("KernelVersion"),
        }


# --- setting an engine up from nothing (the `orchlab engine` command) -------------------------


def _is_debian_root() -> bool:
    return Path("/etc/debian_version").exists() and hasattr(os, "geteuid") and os.geteuid() == 0


def _daemon_answers(address: str) -> bool:
    try:
        client_for(address, 5).ping()
        return True
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False


APT_LOCK_WAIT_S = 300


def apt_install(*packages: str, progress: Progress = print) -> None:
    """``apt-get install`` on Debian as root; raises :class:`NotGradable` elsewhere."""
    if not _is_debian_root():
        raise NotGradable(
            t(f"{', '.join(packages)} 이(가) 필요합니다.", f"{', '.join(packages)} is needed."),
            t("패키지 관리자로 설치하세요.", "install it with your package manager."),
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}"]  # another apt (unattended upgrades, a setup script) is waited for
    progress(f"orchlab: apt-get install {' '.join(packages)} ...")
    for argv in (["apt-get", *wait, "update", "-qq"], ["apt-get", *wait, "install", "-y", "-qq", *packages]):
        if subprocess.run(argv, env=env).returncode != 0:  # noqa: S603 - argv list, no shell
            raise NotGradable(
                t(f"`{' '.join(argv)}` 이(가) 실패했습니다 (위의 apt 메시지 참고).", f"`{' '.join(argv)}` failed (see apt's message above)."),
                t(f"apt 가 끝난 뒤 다시 실행하거나 직접 설치하세요: apt-get install {' '.join(packages)}",
                  f"run it again once apt is free, or install it yourself: apt-get install {' '.join(packages)}"),
            )


def ensure_engine(progress: Progress = print, wait_s: float = 60.0) -> str:
    """Make a Docker engine answer: install ``docker.io`` and start ``dockerd`` on Debian as root.

    Returns a one-line account of what was done. Respects ``DOCKER_HOST``: a remote engine is only
    checked, never installed.
    """
    address, source = resolve_address()
    if _daemon_answers(address):
        return f"engine already answers at {address} ({source})"
    if address != DEFAULT_SOCKET:
        raise _no_daemon(address, f"{source} points at an engine that does not answer, so orchlab will not start one here")
    if not _is_debian_root():
        raise _no_daemon(address, f"this is {platform.system()} without root/Debian, so orchlab will not install Docker")
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        apt_install("docker.io", progress=progress)
    progress(f"orchlab: starting {dockerd} (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(  # noqa: S603 - argv list, no shell
            [dockerd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    answered, _ = poll(lambda: _daemon_answers(address), bool, timeout=wait_s, interval=0.5)
    if not answered:
        tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-5:]
        raise _no_daemon(address, f"dockerd did not answer within {wait_s:.0f} s; last log lines: {' | '.join(tail)}")
    return f"started dockerd ({dockerd}) at {address}"
