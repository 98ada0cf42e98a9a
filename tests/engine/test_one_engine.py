"""One engine per run: with DOCKER_HOST at a second address, the SDK, testcontainers and the CLI all go there."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.helpers import SAMPLE, leftovers, outcomes, run_lab

REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/1\.[01]\r\n(?:.*\r\n)*?User-Agent: ([^\r\n]*)", re.MULTILINE)


class LoggingProxy:
    """A second unix socket for the same engine that records each request line and its User-Agent."""

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.path, self.upstream = path, upstream
        self.requests: list[tuple[str, str, str]] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._lock = threading.Lock()

    def __enter__(self) -> LoggingProxy:
        self._server.bind(str(self.path))
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.upstream)
            threading.Thread(target=self._pump, args=(conn, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self._lock:
                        self.requests += [(m[0].decode(), m[1].decode(), m[2].decode()) for m in REQUEST_LINE.findall(data)]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def second_address(tmp_path: Path) -> Iterator[LoggingProxy]:
    with LoggingProxy(Path("/tmp") / f"orchlab-test-{tmp_path.name[:20]}.sock") as proxy:
        yield proxy
    proxy.path.unlink(missing_ok=True)


def test_every_client_uses_the_engine_docker_host_names(pytester: pytest.Pytester, second_address: LoggingProxy,
                                                        monkeypatch: pytest.MonkeyPatch, client: docker.DockerClient) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{second_address.path}")
    result, report = run_lab(pytester, SAMPLE, "-k", "image_builds or container_serves or swarm_active or stack_deployed")
    got = outcomes(report)
    assert got["p1-container-serves"] == "passed" and got["p2-stack-deployed"] == "passed", result.stdout.str()
    assert report["engine"]["address"] == f"unix://{second_address.path}" and report["engine"]["address_source"] == "DOCKER_HOST"
    seen = second_address.requests
    agents = {agent.split("/")[0] for _, _, agent in seen}
    # The SDK (build, swarm), testcontainers (web-app) and the docker CLI (stack deploy) all came through here.
    assert {"docker-sdk-python", "tc-python", "Docker-Client"} <= agents, agents
    assert any(agent.startswith("Docker-Client") and path.endswith("/services/create") for _, path, agent in seen)
    assert any(agent.startswith("tc-python") and "/containers/create" in path for _, path, agent in seen)
    assert leftovers(client) == []
