"""Is Swarm's ingress routing mesh working here? It needs IPVS in the kernel, which some lack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_orchlab.core.text import Text, t
from pytest_orchlab.measure.traffic import probe
from pytest_orchlab.measure.waiting import poll


@dataclass(frozen=True)
class MeshCheck:
    works: bool
    seen: list[str]
    ipvs: bool | None
    waited_s: float

    @property
    def diagnosis(self) -> Text:
        if self.works:
            return t("라우팅 메시가 8080 에서 응답합니다.", "The routing mesh answers on port 8080.")
        kernel = {True: ("커널에 IPVS가 있지만", "the kernel has IPVS, yet"),
                  False: ("이 커널에는 IPVS(ip_vs)가 없어", "this kernel has no IPVS (ip_vs), so"),
                  None: ("IPVS 여부는 확인할 수 없지만", "IPVS could not be checked, and")}[self.ipvs]
        seen = ", ".join(self.seen[-3:])
        return t(
            f"{kernel[0]} Swarm의 ingress 라우팅 메시와 VIP 로드 밸런싱이 동작하지 않습니다 "
            f"(작업은 실행 중인데 게시된 8080 포트: {seen}). 같은 성질을 오버레이 네트워크 안의 프로브가 엔진 DNS(tasks.<서비스>)의 "
            "응답 순서대로 요청해 측정합니다.",
            f"{kernel[1]} Swarm's ingress routing mesh and VIP load balancing do not work here "
            f"(tasks are running, but the published port 8080 gave: {seen}). The same properties are measured "
            "by a probe inside the stack's overlay network that sends each request to the first address of the "
            "engine's own DNS answer for tasks.<service> (DNS round robin, as endpoint_mode: dnsrr).",
        )


def kernel_has_ipvs() -> bool | None:
    """Whether this machine's kernel offers IPVS (None when it cannot tell, e.g. a remote engine)."""
    if Path("/proc/net/ip_vs").exists():
        return True
    modules = Path("/proc/modules")
    if modules.exists() and any(line.startswith("ip_vs ") for line in modules.read_text().splitlines()):
        return True
    builtin = list(Path("/lib/modules").glob("*/kernel/net/netfilter/ipvs"))
    return False if Path("/proc").exists() and not builtin else None


def check_routing_mesh(host: str, port: int, timeout: float = 4.0) -> MeshCheck:
    """Probe the published port until it answers or ``timeout`` (the mesh needs a moment after deploy)."""
    seen: list[str] = []

    def look() -> bool:
        reply = probe(host, port, "/health", timeout=1.0)
        seen.append(reply.fate)
        return reply.ok

    works, waited = poll(look, bool, timeout=timeout, interval=0.3)
    return MeshCheck(works, seen, kernel_has_ipvs(), waited)
