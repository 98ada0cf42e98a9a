"""Phase 1 실습 1: ``curl http://localhost:8080`` and ``/health`` on the running container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_orchlab.measure import http

if TYPE_CHECKING:
    from pytest_orchlab.docker.container import WebContainer


@dataclass(frozen=True)
class Serving:
    """What ``curl http://localhost:8080`` and ``/health`` returned."""

    ready: bool
    waited_s: float
    ready_seen: str
    exited: bool
    logs: str
    hostname: str
    root_status: int | None
    root_body: str
    health_status: int | None
    health_body: str


def observe(web: WebContainer) -> Serving:
    """The lab's ``curl http://localhost:8080`` and ``/health``, as seen right now."""
    r = web.readiness
    assert r is not None, "observe() needs a started container"

    def get(path: str) -> tuple[int | None, str]:
        answer = http.get(web.url + path, timeout=5)
        return (answer.status, answer.body) if answer.status is not None else (None, answer.error or "")

    root, health = get("/") if r.ok else (None, ""), get("/health") if r.ok else (None, "")
    return Serving(r.ok, r.seconds, r.seen, r.exited, r.logs, web.hostname, *root, *health)
