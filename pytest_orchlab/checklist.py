"""The lab's own checklist: every checkpoint id, its phase, the lab's words and the step to redo."""

from __future__ import annotations

from dataclasses import dataclass

from .text import Text, t


@dataclass(frozen=True)
class Item:
    id: str
    phase: int
    title: Text
    step: Text


ITEMS: tuple[Item, ...] = (
    Item("p1-image-builds", 1, t("이미지 빌드 (simple-web:v1)", "Image builds (simple-web:v1)"),
         t("실습 환경 준비: docker build -t simple-web:v1 .", "environment setup: docker build -t simple-web:v1 .")),
    Item("p1-container-serves", 1, t("정상 상태 확인 (web-app, 8080)", "Healthy container (web-app on 8080)"),
         t("실습 1: docker run -d --name web-app -p 8080:5000 simple-web:v1", "exercise 1: docker run -d --name web-app -p 8080:5000 simple-web:v1")),
    Item("p1-cpu-saturation", 1, t("CPU 사용률 90% 이상 도달", "CPU use reaches 90% or more"),
         t("실습 2: 부하 테스트와 성능 한계", "exercise 2: load test and limits")),
    Item("p1-latency-rises", 1, t("응답 시간 증가 확인", "Response time rises under load"),
         t("실습 2: 부하 테스트와 성능 한계", "exercise 2: load test and limits")),
    Item("p1-requests-fail", 1, t("일부 요청 실패 발생", "Some requests fail"),
         t("실습 2: 부하 테스트와 성능 한계", "exercise 2: load test and limits")),
    Item("p1-throughput-ceiling", 1, t("단일 컨테이너의 처리 한계 체감", "A single container's throughput ceiling"),
         t("실습 2: 부하 테스트와 성능 한계", "exercise 2: load test and limits")),
    Item("p1-kill-outage", 1, t("컨테이너 강제 종료 → Connection refused", "Killed container → Connection refused"),
         t("실습 3: 장애 시뮬레이션 (docker kill web-app)", "exercise 3: failure simulation (docker kill web-app)")),
    Item("p1-manual-recovery", 1, t("수동 복구와 다운타임 측정", "Manual recovery and measured downtime"),
         t("실습 3: 수동 복구 과정 (docker start web-app)", "exercise 3: manual recovery (docker start web-app)")),
)

BY_ID: dict[str, Item] = {item.id: item for item in ITEMS}
PHASE_TITLES: dict[int, Text] = {
    1: t("Phase 1: 단일 컨테이너 장애 시나리오", "Phase 1: single-container failure scenario"),
    2: t("Phase 2: Docker Swarm", "Phase 2: Docker Swarm"),
    3: t("Phase 3: Kubernetes", "Phase 3: Kubernetes"),
}
