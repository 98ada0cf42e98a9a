"""The lab's own checklist: every checkpoint id, its phase, the lab's words and the step to redo."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_orchlab.core.text import Text, t


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
    Item("p2-swarm-active", 2, t("Swarm 클러스터 초기화", "Swarm initialised"),
         t("실습 4: docker swarm init", "exercise 4: docker swarm init")),
    Item("p2-stack-deployed", 2, t("스택 배포, 서비스 상태 확인 (3/3)", "Stack deployed, service 3/3"),
         t("실습 5: docker stack deploy -c docker-compose.yml webapp", "exercise 5: docker stack deploy -c docker-compose.yml webapp")),
    Item("p2-policies-applied", 2, t("update_config / restart_policy 적용", "update_config / restart_policy applied"),
         t("실습 4: 서비스 정의 파일 생성 (deploy 설정)", "exercise 4: the service definition (deploy settings)")),
    Item("p2-scale-out", 2, t("서비스 스케일 업 (webapp_web=5)", "Scale out (webapp_web=5)"),
         t("실습 5: docker service scale webapp_web=5", "exercise 5: docker service scale webapp_web=5")),
    Item("p2-load-balanced", 2, t("로드 밸런싱 확인", "Load balancing"),
         t("실습 5: 로드 밸런싱 확인", "exercise 5: load balancing check")),
    Item("p2-self-healing", 2, t("자동 복구 체험", "Self-healing"),
         t("실습 6: 자동 복구 체험 (docker kill)", "exercise 6: self-healing (docker kill)")),
    Item("p2-rolling-update", 2, t("롤링 업데이트 (서비스 중단 없는 업데이트)", "Rolling update without failed requests"),
         t("실습 6: 롤링 업데이트 체험 (simple-web:v2)", "exercise 6: rolling update (simple-web:v2)")),
    Item("p2-rollback", 2, t("롤백 (docker service rollback)", "Rollback (docker service rollback)"),
         t("실습 6 이후: docker service rollback webapp_web", "after exercise 6: docker service rollback webapp_web")),
    Item("p2x-spread", 2, t("복제본이 여러 노드에 분산", "Replicas spread over the nodes"),
         t("Swarm 개념 1: Manager/Worker 노드와 docker service create --replicas 3",
           "Swarm concept 1: manager/worker nodes, docker service create --replicas 3")),
    Item("p2x-drain", 2, t("노드 drain 중 실패 요청 없음", "Node drained with no failed request"),
         t("장애 시나리오 1: docker node update --availability drain node-2", "failure scenario 1: docker node update --availability drain node-2")),
    Item("p2x-placement", 2, t("배치 제약 node.role==worker", "Placement constraint node.role==worker"),
         t("서비스 배포 예시: --constraint 'node.role==worker'", "service example: --constraint 'node.role==worker'")),
    Item("p2x-node-loss", 2, t("워커 노드 장애 → 작업 재배치", "Worker node lost → tasks rescheduled"),
         t("장애 시나리오 1: Worker 노드 장애 (재스케줄링)", "failure scenario 1: a worker node fails (rescheduling)")),
    Item("p3-cluster-ready", 3, t("클러스터 준비 (kubectl cluster-info, get nodes)", "Cluster ready (kubectl cluster-info, get nodes)"),
         t("Phase 3: minikube start, kubectl cluster-info", "Phase 3: minikube start, kubectl cluster-info")),
    Item("p3-deployment-ready", 3, t("배포 준비 (hello-k8s 1/1)", "Deployment ready (hello-k8s 1/1)"),
         t("실습 7: kubectl create deployment hello-k8s --image=simple-web:v1", "exercise 7: kubectl create deployment hello-k8s --image=simple-web:v1")),
    Item("p3-nodeport-exposed", 3, t("NodePort 서비스 (5000)", "NodePort service (5000)"),
         t("실습 7: kubectl expose deployment hello-k8s --type=NodePort --port=5000",
           "exercise 7: kubectl expose deployment hello-k8s --type=NodePort --port=5000")),
    Item("p3-nodeport-reachable", 3, t("호스트에서 NodePort 접속", "NodePort reached from the host"),
         t("실습 7: minikube service hello-k8s --url", "exercise 7: minikube service hello-k8s --url")),
    Item("p3-scale-out", 3, t("스케일 아웃 (replicas=5)", "Scale out (replicas=5)"),
         t("Swarm 실습 5 를 Kubernetes 에서: kubectl scale --replicas=5", "Swarm's exercise 5 on Kubernetes: kubectl scale --replicas=5")),
    Item("p3-self-healing", 3, t("자동 복구 (파드 삭제)", "Self-healing (pod deleted)"),
         t("Swarm 실습 6 을 Kubernetes 에서: kubectl delete pod", "Swarm's exercise 6 on Kubernetes: kubectl delete pod")),
    Item("p3-rolling-update", 3, t("롤링 업데이트 (실패 요청 없이)", "Rolling update without failed requests"),
         t("Swarm 실습 6 을 Kubernetes 에서: kubectl set image (simple-web:v2)", "Swarm's exercise 6 on Kubernetes: kubectl set image (simple-web:v2)")),
    Item("p3-rollback", 3, t("롤백 (kubectl rollout undo)", "Rollback (kubectl rollout undo)"),
         t("kubectl rollout undo deployment/hello-k8s", "kubectl rollout undo deployment/hello-k8s")),
)

BY_ID: dict[str, Item] = {item.id: item for item in ITEMS}
PHASE_TITLES: dict[int, Text] = {
    1: t("Phase 1: 단일 컨테이너 장애 시나리오", "Phase 1: single-container failure scenario"),
    2: t("Phase 2: Docker Swarm", "Phase 2: Docker Swarm"),
    3: t("Phase 3: Kubernetes", "Phase 3: Kubernetes"),
}
