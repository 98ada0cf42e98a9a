"""The Phase 1 container: ``docker run -d --name web-app -p 8080:5000 simple-web:v1``."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import docker.errors
from docker.models.containers import Container
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

from pytest_orchlab.core.errors import NotGradable
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.routes import on_link
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import Engine
from pytest_orchlab.docker.image import BuiltImage
from pytest_orchlab.measure import http
from pytest_orchlab.measure.waiting import poll

LAB_NAME = "web-app"
# The student's container: memory and processes bounded (a memory hog or a fork bomb fails that student, not the
# machine). CPU stays unlimited: Phase 1's ceiling is one core. At 1000 clients the app runs a thread per
# connection, measured at about PEAK_PIDS here, so the pids limit leaves it room.
CONTAINER_LIMITS: dict[str, Any] = {"mem_limit": "1g", "memswap_limit": "1g", "pids_limit": 4096}
HOST_PORT = 8080
APP_PORT = 5000


def _free_host_port() -> int:
    """A TCP port no process on this host listens on now (the kernel's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Readiness:
    """Whether the app answered on the published port after start, and what was seen meanwhile."""

    ok: bool
    seconds: float
    seen: str
    exited: bool
    logs: str


def port_in_use(port: int) -> bool:
    """True when something on this machine already listens on ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: closed connections in TIME_WAIT on the port are not "in use"; a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


@contextlib.contextmanager
def _without_ryuk() -> Iterator[None]:
    """Start one container of ours without testcontainers' reaper, leaving its setting as it was.

    Ryuk is an image from a registry (none here), and orchlab reaps by its own labels. The setting is
    global in testcontainers, so it is switched only around our own ``start()`` and put back at once:
    another testcontainers suite in the same environment keeps its reaper.
    """
    before = testcontainers_config.ryuk_disabled
    testcontainers_config.ryuk_disabled = True
    try:
        yield
    finally:
        testcontainers_config.ryuk_disabled = before


class WebContainer:
    """The lab's single container, labelled for this run and removed on exit (also after Ctrl-C)."""

    def __init__(
        self,
        engine: Engine,
        image: BuiltImage,
        *,
        name: str = LAB_NAME,
        host_port: int | None = HOST_PORT,
        ready_timeout: float = 15.0,
        progress: Progress = print,
    ) -> None:
        # host_port None: one of several runs on one engine; a free port is picked here and kept, because a port
        # the engine picks itself changes on `docker start`, and the outage experiment restarts the container.
        self.engine, self.image, self.name = engine, image, name
        self.host_port = host_port if host_port is not None else _free_host_port()
        self.ready_timeout = ready_timeout
        self.progress = progress
        self._tc: DockerContainer | None = None
        self.readiness: Readiness | None = None

    def _check_free(self) -> None:
        for other in self.engine.client.containers.list(all=True, filters={"name": f"^/{self.name}$"}):
            raise NotGradable(
                t(
                    f"이미 '{self.name}' 컨테이너({other.short_id}, {other.status})가 있습니다. orchlab이 만든 것이 아니므로 건드리지 않습니다.",
                    f"A container named '{self.name}' ({other.short_id}, {other.status}) already exists and was not made by orchlab, so it is left alone.",
                ),
                t(
                    f"실습에서 만든 컨테이너라면 `docker rm -f {self.name}` 후 다시 실행하세요.",
                    f"if it is yours from the lab, remove it with `docker rm -f {self.name}` and run again.",
                ),
            )
        if port_in_use(self.host_port):
            raise NotGradable(
                t(
                    f"포트 {self.host_port} 을(를) 다른 프로세스가 이미 쓰고 있어 web-app을 게시할 수 없습니다.",
                    f"Port {self.host_port} is already taken by another process, so web-app cannot publish it.",
                ),
                t(
                    f"`ss -ltnp 'sport = :{self.host_port}'`로 찾아 멈춘 뒤 다시 실행하세요 (orchlab은 건드리지 않습니다).",
                    f"find it with `ss -ltnp 'sport = :{self.host_port}'`, stop it and run again (orchlab leaves it alone).",
                ),
            )

    def __enter__(self) -> WebContainer:
        self._check_free()
        self._tc = (
            DockerContainer(self.image.tag, name=self.name, labels=self.engine.labels, docker_client_kw=self.engine.client_kwargs(), **CONTAINER_LIMITS)
            .with_bind_ports(APP_PORT, self.host_port)
        )
        self.engine.own_ca(self._tc.get_docker_client().client)
        try:
            with _without_ryuk():
                self._tc.start()
            self.readiness = self.wait_ready(self.ready_timeout)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, docker.errors.APIError) and "port is already allocated" in str(exc):
                self._tc = None
                raise NotGradable(
                    t(f"포트 {self.host_port} 이(가) 이미 할당되어 있습니다.", f"Port {self.host_port} is already allocated."),
                    t("그 포트를 게시한 컨테이너를 멈추세요.", "stop the container that publishes it."),
                ) from None
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._tc is not None and self._tc._container is not None:
            try:
                self._tc.get_wrapped_container().remove(force=True, v=True)
            except docker.errors.NotFound:
                pass

    @property
    def container(self) -> Container:
        assert self._tc is not None
        return self._tc.get_wrapped_container()

    @property
    def host(self) -> str:
        return self.engine.published_host

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.host_port}"

    @property
    def hostname(self) -> str:
        """The container's hostname, which the lab app prints as ``Hello from <hostname>``."""
        self.container.reload()
        return str(self.container.attrs["Config"]["Hostname"])

    def bridge_address(self) -> tuple[str, int] | None:
        """The container's own address and app port, when this machine can reach it directly."""
        self.container.reload()
        networks = self.container.attrs["NetworkSettings"]["Networks"]
        for net in networks.values():
            ip = net.get("IPAddress")
            if ip and on_link(ip):
                try:
                    with socket.create_connection((ip, APP_PORT), timeout=0.5):
                        return ip, APP_PORT
                except OSError:
                    return None
        return None

    def logs(self, lines: int = 8) -> str:
        raw = self.container.logs(tail=lines).decode(errors="replace").strip()
        return " | ".join(raw.splitlines()[-lines:])

    def wait_ready(self, timeout: float) -> Readiness:
        """Poll ``GET /`` on the published port until the app answers, it exits, or ``timeout``."""
        self.progress(f"orchlab: waiting up to {timeout:.0f} s for {self.url}/ to answer ...")
        seen: list[str] = []

        def look() -> str:
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                return "exited"
            answer = http.get(self.url + "/", timeout=3)
            if answer.status is not None:
                return f"HTTP {answer.status}"
            seen.append(answer.error or "no answer")
            return "no answer"

        state, waited = poll(look, lambda s: s != "no answer", timeout=timeout, interval=0.2)
        exited = state == "exited"
        detail = state if state != "no answer" else f"no answer ({seen[-1] if seen else 'nothing'})"
        return Readiness(state.startswith("HTTP"), waited, detail, exited, self.logs() if state != "HTTP 200" else "")

    def kill(self) -> None:
        """``docker kill web-app``: SIGKILL, and the engine marks it as stopped by hand."""
        self.container.kill()

    def start(self) -> None:
        """``docker start web-app``."""
        self.container.start()
