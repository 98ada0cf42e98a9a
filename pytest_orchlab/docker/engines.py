"""Docker engines of several releases, built and run offline: Debian's ``docker.io`` in a container (Docker-in-Docker).

``orchlab engines build 20.10 26.1 28.5`` debootstraps the Debian suite that carries each release and
imports it as ``orchlab/engine:<release>``; ``orchlab engines up`` runs each as a container with its own
``dockerd``, data volume and ``tcp://`` address, and copies the lab's base image into it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.baseimage import base_image_present, debootstrap, import_tree
from pytest_orchlab.docker.engine import RUN_LABEL, client_for
from pytest_orchlab.docker.tls import issue_server, tls_for
from pytest_orchlab.measure.waiting import poll

RELEASES = {"20.10": "bookworm", "26.1": "trixie", "28.5": "sid"}  # Docker release -> the Debian suite carrying it
IMAGE = "orchlab/engine"
IMAGE_LABEL = "orchlab.engine-image"  # a deliberate cache, like the base image: kept until `engines build --remove`
ENGINE_LABEL = "orchlab.engine"       # an inner engine's container and volume; removed by `engines down`
PACKAGES = "docker.io,iptables,ca-certificates"
API_PORT = 2375
TLS_PORT = 2376  # Docker's own convention: 2375 plain, 2376 with TLS
# `--privileged` asks for every capability; where one is withheld (our VMs keep CAP_SYS_RESOURCE) this
# is the narrowest set that measured to run dockerd, containers and a swarm service inside. /proc is
# left unmasked and writable as `--security-opt systempaths=unconfined` does (the Engine API's empty
# MaskedPaths and ReadonlyPaths): Docker 28 sets sysctls of every container interface and fails a
# build's RUN without it. Docker 26 is also told not to insist on turning IPv6 off on those interfaces.
FALLBACK = {"cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"], "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
            "device_cgroup_rules": ["a *:* rwm"]}
FALLBACK_ENV = {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}


def release_of(name: str) -> str:
    """``20.10`` from ``20.10``, ``v20.10`` or ``20.10.24``: the release a user names, checked."""
    match = re.fullmatch(r"v?(\d+\.\d+)(\.\d+)?", name.strip())
    if not match or match.group(1) not in RELEASES:
        raise OrchlabError(t(f"알 수 없는 Docker 릴리스 {name!r}: {', '.join(RELEASES)} 중에서 고르세요.",
                             f"unknown Docker release {name!r}: choose from {', '.join(RELEASES)}."))
    return match.group(1)


def image_name(release: str) -> str:
    return f"{IMAGE}:{release}"


def dpkg_version(root: Path, package: str) -> str | None:
    """The installed version of ``package`` in a Debian tree (``var/lib/dpkg/status``)."""
    status = root / "var/lib/dpkg/status"
    current = None
    for line in status.read_text(errors="replace").splitlines() if status.exists() else ():
        if line.startswith("Package: "):
            current = line.split(": ", 1)[1]
        elif line.startswith("Version: ") and current == package:
            return line.split(": ", 1)[1]
    return None


def build_engine_image(client: docker.DockerClient, release: str, *, rebuild: bool = False, progress: Progress = print) -> str:
    """``orchlab/engine:<release>`` from Debian's ``docker.io`` of the matching suite; cached unless ``rebuild``."""
    release = release_of(release)
    name, suite = image_name(release), RELEASES[release]
    if base_image_present(client, name) and not rebuild:
        return f"{name} already present (Docker {client.images.get(name).labels.get('orchlab.docker-version', '?')}; cached)"
    with debootstrap(suite, PACKAGES, progress, about=f"Docker {release}, a minute or two") as root:
        version = dpkg_version(root, "docker.io") or ""
        if not version.startswith(release + "."):
            raise OrchlabError(t(f"Debian {suite} 의 docker.io 는 {version or '없음'} 입니다 (Docker {release} 가 아님).",
                                 f"Debian {suite} carries docker.io {version or 'not at all'}, not Docker {release}."),
                               t("다른 릴리스를 고르거나 RELEASES 의 suite 를 고치세요.", "choose another release or fix its suite in RELEASES."))
        import_tree(client, root, name, [f"LABEL {IMAGE_LABEL}={release}", f"LABEL orchlab.docker-version={version}",
                                         "ENV LANG=C.UTF-8", 'CMD ["dockerd"]'], progress)
    return f"built {name}: Debian {suite}, docker.io {version}"


@dataclass
class InnerEngine:
    """A running inner engine: where it answers and how it was started."""

    release: str
    container: str
    address: str
    version: str
    mode: str  # "privileged" or "capabilities" (the fallback)
    cert_path: str = ""  # with TLS: the grader's client certificate folder (DOCKER_CERT_PATH)

    def env(self) -> dict[str, str]:
        tls = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": self.cert_path} if self.cert_path else {}
        return {"DOCKER_HOST": self.address, **tls}

    def describe(self) -> str:
        return f"Docker {self.version} at {self.address} ({self.container}, {self.mode})"


def container_name(release: str, node: str = "") -> str:
    return f"orchlab-engine-{release.replace('.', '-')}{'-' + node if node else ''}"


def _dockerd_command(grader: str, tls: bool = False) -> list[str]:
    # Docker's defaults, as on a student's machine (the userland proxy too: turning it off needs a writable
    # /proc/sys, which the capability fallback does not give). `--tls=false` is explicit: Docker 27+
    # refuses a tcp:// host without it.
    # Its own bridge subnet: the default 172.17.0.0/16 is also the host's, so an inner container's address
    # would name the inner engine's own container seen from the host.
    # The API answers the grader only: a connection to it from any other address (a student's container in this
    # engine or in another, a task on another node) is refused by the engine's own firewall before dockerd starts.
    # With TLS, dockerd waits for its server certificate (issued once its address is known) and verifies clients.
    port = TLS_PORT if tls else API_PORT
    wait = "while [ ! -f /certs/ready ]; do sleep 0.1; done; " if tls else ""
    guard = (f"{wait}iptables -w -I INPUT -p tcp --dport {port} ! -s {grader} -j REJECT --reject-with tcp-reset "
             '|| { echo "orchlab: cannot fence the API port" >&2; exit 3; }; exec "$@"')
    api = (["--tlsverify", "--tlscacert=/certs/ca.pem", "--tlscert=/certs/cert.pem", "--tlskey=/certs/key.pem", f"--host=tcp://0.0.0.0:{port}"]
           if tls else [f"--host=tcp://0.0.0.0:{port}", "--tls=false"])
    return ["sh", "-c", guard, "dockerd", "dockerd", "--host=unix:///var/run/docker.sock", *api,
            "--storage-driver=overlay2", "--bip=10.213.0.1/24", "--default-address-pool=base=10.214.0.0/16,size=24"]


def grader_address(client: docker.DockerClient, network: str | None) -> str:
    """This machine's address on the network an inner engine joins (its gateway): the one source its API answers."""
    net = client.networks.get(network or "bridge")
    for config in net.attrs.get("IPAM", {}).get("Config") or []:
        if config.get("Gateway"):
            return str(config["Gateway"]).split("/")[0]
        if config.get("Subnet"):
            import ipaddress

            return str(next(ipaddress.ip_network(config["Subnet"], strict=False).hosts()))
    raise OrchlabError(t(f"네트워크 {net.name} 의 게이트웨이를 알 수 없습니다.", f"The network {net.name} has no gateway address."))


def _start(client: docker.DockerClient, name: str, image: str, volume: str, labels: dict[str, str],
           network: str | None, progress: Progress, certs: Path | None = None) -> tuple[docker.models.containers.Container, str]:
    command = _dockerd_command(grader_address(client, network), tls=certs is not None)
    mounts = {volume: {"bind": "/var/lib/docker", "mode": "rw"}}
    if certs is not None:
        mounts[str(certs)] = {"bind": "/certs", "mode": "ro"}
    common = {"name": name, "detach": True, "labels": labels, "command": command, "entrypoint": [], "hostname": name,
              "volumes": mounts, "tmpfs": {"/run": ""}}
    if network:
        common["network"] = network
    try:
        c = client.containers.run(image, privileged=True, **common)
        return c, "privileged"
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # the name is taken by a container that is not ours: leave it alone
            raise OrchlabError(t(f"컨테이너 이름 {name} 을 다른 컨테이너가 쓰고 있습니다.",
                                 f"The container name {name} is taken by a container orchlab did not make."),
                               t("그 컨테이너의 이름을 바꾸거나 지운 뒤 다시 하세요.", "rename or remove that container, then try again.")) from exc
        progress(f"orchlab: --privileged refused here ({str(exc.explanation or exc)[:120]}); "
                 "starting with every capability but CAP_SYS_RESOURCE instead")
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
    volumes = dict(common.pop("volumes"))  # type: ignore[call-overload]
    volumes["/sys/fs/cgroup"] = {"bind": "/sys/fs/cgroup", "mode": "rw"}
    try:
        c = _run_unmasked(client, image, name, labels, command, hostname=name, volumes=volumes, network=network)
    except docker.errors.APIError as exc:
        raise OrchlabError(t(f"내부 엔진 컨테이너 {name} 를 시작할 수 없습니다: {exc.explanation or exc}",
                             f"The inner engine's container {name} cannot start: {exc.explanation or exc}"),
                           t("호스트 엔진이 --privileged 또는 CAP_SYS_ADMIN 을 허용해야 합니다.",
                             "the host engine must allow --privileged, or at least CAP_SYS_ADMIN and unconfined seccomp.")) from exc
    return c, "capabilities"


def _run_unmasked(client: docker.DockerClient, image: str, name: str, labels: dict[str, str], command: list[str], *, hostname: str,
                  volumes: dict[str, dict[str, str]], network: str | None) -> docker.models.containers.Container:
    """The fallback container, made through the low-level API: the SDK's ``run`` has no MaskedPaths/ReadonlyPaths."""
    api = client.api
    host_config = api.create_host_config(binds=volumes, tmpfs={"/run": ""}, network_mode=network or "default", **FALLBACK)
    host_config["MaskedPaths"], host_config["ReadonlyPaths"] = [], []
    created = api.create_container(image, command=command, entrypoint=[], name=name, labels=labels, hostname=hostname,
                                   environment=FALLBACK_ENV, host_config=host_config, detach=True)
    api.start(created["Id"])
    return client.containers.get(created["Id"])


def start_engine(client: docker.DockerClient, release: str, *, labels: dict[str, str], base_image: str | None,
                 node: str = "", network: str | None = None, progress: Progress = print, wait_s: float = 90.0,
                 tls_ca: Path | None = None) -> InnerEngine:
    """One inner engine of ``release``, answering on ``tcp://<its address>:2375``, with ``base_image`` loaded.

    With ``tls_ca`` (a folder made by :func:`pytest_orchlab.docker.tls.make_ca`) it answers on 2376 with TLS and
    verifies clients, as a remote engine should: its server certificate is issued for its address once it has one.
    """
    release = release_of(release)
    image = image_name(release)
    if not base_image_present(client, image):
        raise OrchlabError(t(f"{image} 이미지가 없습니다.", f"The image {image} is missing."),
                           t(f"`orchlab engines build {release}` 로 먼저 만드세요.", f"build it first: `orchlab engines build {release}`."))
    name = container_name(release, node)
    try:
        old = client.containers.get(name)
    except docker.errors.NotFound:
        old = None
    if old is not None and old.status == "running":
        raise OrchlabError(t(f"Docker {release} 내부 엔진({name})이 이미 실행 중입니다.", f"The inner Docker {release} engine ({name}) is already running."),
                           t("`orchlab engines status` 로 주소를 보거나 `orchlab engines down` 후 다시 시작하세요.",
                             "`orchlab engines status` gives its address; or `orchlab engines down` and start again."))
    if old is not None and ENGINE_LABEL in old.labels:
        old.remove(force=True, v=True)  # a stopped engine of ours (a crashed start): replaced
    labels = {**labels, ENGINE_LABEL: release, "orchlab.engine-name": name, "orchlab.engine-port": str(TLS_PORT if tls_ca else API_PORT)}
    volume = client.volumes.create(name=f"{name}-data", labels=labels).name
    progress(f"orchlab: starting Docker {release} in container {name} ...")
    try:
        return _started(client, release, name, image, volume, labels, network, base_image, progress, wait_s, tls_ca)
    except BaseException:
        remove_engines(client, lambda found: found.get(ENGINE_LABEL) == release and found.get("orchlab.engine-name") == name)
        raise


def _started(client: docker.DockerClient, release: str, name: str, image: str, volume: str, labels: dict[str, str],
             network: str | None, base_image: str | None, progress: Progress, wait_s: float, tls_ca: Path | None = None) -> InnerEngine:
    certs = tls_ca / name if tls_ca is not None else None
    if certs is not None:
        shutil.rmtree(certs, ignore_errors=True)
        certs.mkdir(parents=True)
    container, mode = _start(client, name, image, volume, labels, network, progress, certs)
    container.reload()
    nets = container.attrs["NetworkSettings"]["Networks"]
    ip = next((n["IPAddress"] for n in nets.values() if n.get("IPAddress")), None)
    if not ip:
        raise OrchlabError(t(f"{name} 에 IP 주소가 없습니다.", f"{name} got no IP address."))
    tls = None
    if tls_ca is not None and certs is not None:
        issue_server(tls_ca, certs, ip)
        (certs / "ready").touch()
        tls = tls_for(tls_ca / "client")
    address = f"tcp://{ip}:{TLS_PORT if tls else API_PORT}"

    def answers() -> str | None:
        container.reload()
        if container.status == "exited":
            raise OrchlabError(t(f"{name} 의 dockerd 가 종료되었습니다: {container.logs(tail=6).decode(errors='replace')}",
                                 f"dockerd in {name} exited: {container.logs(tail=6).decode(errors='replace')}"))
        try:
            return str(client_for(address, 3, tls).version()["Version"])
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return None

    version, _ = poll(answers, lambda v: v is not None, timeout=wait_s, interval=0.3)
    if version is None:
        raise OrchlabError(t(f"{name} 의 dockerd 가 {wait_s:.0f}초 안에 응답하지 않았습니다.", f"dockerd in {name} did not answer within {wait_s:.0f} s."),
                           t(f"docker logs {name} 을 보세요.", f"read docker logs {name}."))
    engine = InnerEngine(release, name, address, version, mode, str(tls_ca / "client") if tls_ca is not None else "")
    if base_image:
        copy_image(client, client_for(address, 300, tls), base_image, progress)
    return engine


def copy_image(source: docker.DockerClient, target: docker.DockerClient, name: str, progress: Progress = print) -> None:
    """``docker save | docker load`` between two engines, streamed (no registry)."""
    progress(f"orchlab: copying {name} into the engine at {target.api.base_url} ...")
    image = source.images.get(name)
    target.images.load(b"".join(image.save(named=True)))


def engines_running(client: docker.DockerClient, select: Callable[[dict[str, str]], bool] = lambda labels: True) -> list[InnerEngine]:
    """Inner engines on this host engine (their containers carry ``orchlab.engine``)."""
    found = []
    for c in client.containers.list(filters={"label": ENGINE_LABEL}):
        if not select(c.labels):
            continue
        nets = c.attrs["NetworkSettings"]["Networks"]
        ip = next((n["IPAddress"] for n in nets.values() if n.get("IPAddress")), "")
        mode = "privileged" if c.attrs["HostConfig"].get("Privileged") else "capabilities"
        version = c.image.labels.get("orchlab.docker-version", "?") if c.image else "?"
        found.append(InnerEngine(c.labels[ENGINE_LABEL], c.name, f"tcp://{ip}:{c.labels.get('orchlab.engine-port', API_PORT)}", version, mode))
    return found


def remove_engines(client: docker.DockerClient, select: Callable[[dict[str, str]], bool] = lambda labels: True) -> list[str]:
    """Remove inner engines (container, data volume) and the networks made for them; what was removed."""
    removed = []
    for c in client.containers.list(all=True, filters={"label": ENGINE_LABEL}):
        if select(c.labels):
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
    for v in client.volumes.list(filters={"label": ENGINE_LABEL}):
        if select(v.attrs.get("Labels") or {}):
            v.remove(force=True)
            removed.append(f"volume {v.name}")
    for n in client.networks.list(filters={"label": ENGINE_LABEL}):
        if select(n.attrs.get("Labels") or {}):
            n.remove()
            removed.append(f"network {n.name}")
    return removed


def up(client: docker.DockerClient, releases: Sequence[str], *, base_image: str | None, run_id: str | None = None,
       progress: Progress = print) -> list[InnerEngine]:
    """Start one inner engine per release; with ``run_id`` they belong to that run (swept with it)."""
    labels = {RUN_LABEL: run_id} if run_id else {}
    return [start_engine(client, r, labels=labels, base_image=base_image, progress=progress) for r in releases]
