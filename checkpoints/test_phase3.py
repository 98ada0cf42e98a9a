"""Phase 3: Kubernetes 개념 이해와 준비 (실습 7), and the Swarm experiments on Kubernetes, on a live cluster."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.fixtures import Grade
from pytest_orchlab.kube import verdicts
from pytest_orchlab.kube.connect import Cluster, load_hint
from pytest_orchlab.kube.deployment import HelloDeployment, Readiness, node_port, nodeport_answers, pod_answer, pod_views, recent_events, service_view
from pytest_orchlab.kube.experiments import KubeRollout, KubeScale, PodWatch, delete_pod, undo
from pytest_orchlab.measure.timeline import Timeline, summarize

pytestmark = pytest.mark.phase3


def evidence(dep: HelloDeployment, timeline: Timeline | None = None) -> Callable[[], dict[str, object]]:
    """Pods, recent events, the deployment's and service's specs and the traffic, for a failed checkpoint."""
    def collect() -> dict[str, object]:
        spec = dep.cluster.apps.read_namespaced_deployment("hello-k8s", dep.namespace).spec
        found: dict[str, object] = {"pods": [p.__dict__ for p in pod_views(dep.pods())], "events": recent_events(dep),
                                    "deployment_spec": dep.cluster.api.sanitize_for_serialization(spec), "service": service_view(dep)}
        if timeline is not None:
            found["traffic"] = {"path": timeline.path, **summarize(timeline.samples)}
        return found
    return collect


@pytest.mark.checkpoint("p3-cluster-ready", points=1)
def test_cluster_ready(orchlab_kube_cluster: Cluster, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.cluster_ready(orchlab_kube_cluster.describe()))


@pytest.mark.checkpoint("p3-deployment-ready", points=2, requires=["p1-image-builds", "p3-cluster-ready"])
def test_deployment_ready(orchlab_kube_ready: Readiness, orchlab_hello_k8s: HelloDeployment, orchlab_grade: Grade) -> None:
    hint = load_hint(orchlab_hello_k8s.cluster, "simple-web:v1").en
    answer = pod_answer(orchlab_hello_k8s) if orchlab_kube_ready.ready else {"ok": False}
    orchlab_grade(verdicts.deployment_ready(orchlab_kube_ready, answer, hint), attach=evidence(orchlab_hello_k8s))


@pytest.mark.checkpoint("p3-nodeport-exposed", points=1, requires=["p3-deployment-ready"])
def test_nodeport_exposed(orchlab_kube_ready: Readiness, orchlab_hello_k8s: HelloDeployment, orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.nodeport_exposed(service_view(orchlab_hello_k8s)), attach=evidence(orchlab_hello_k8s))


@pytest.mark.checkpoint("p3-nodeport-reachable", points=2, requires=["p3-nodeport-exposed"])
def test_nodeport_reachable(orchlab_kube_cluster: Cluster, orchlab_hello_k8s: HelloDeployment, orchlab_grade: Grade) -> None:
    url = f"http://{orchlab_kube_cluster.node_address}:{node_port(orchlab_hello_k8s)}/"
    answers, waited = nodeport_answers(url)  # what `curl $(minikube service hello-k8s --url)` shows, five times
    pods = [p.name for p in pod_views(orchlab_hello_k8s.pods())]
    target = service_view(orchlab_hello_k8s).get("target_port")
    orchlab_grade(verdicts.nodeport_reachable(url, answers, pods, target, waited), attach=evidence(orchlab_hello_k8s))


@pytest.mark.checkpoint("p3-scale-out", points=1, requires=["p3-nodeport-reachable"])
def test_scale_out(orchlab_kube_scaled: KubeScale, orchlab_hello_k8s: HelloDeployment, orchlab_kube_traffic: Timeline,
                   orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.scale_out(orchlab_kube_scaled), attach=evidence(orchlab_hello_k8s, orchlab_kube_traffic))


@pytest.mark.checkpoint("p3-self-healing", points=2, requires=["p3-nodeport-reachable"])
def test_self_healing(orchlab_hello_k8s: HelloDeployment, orchlab_pod_watch: PodWatch, orchlab_kube_scaled: KubeScale,
                      orchlab_kube_traffic: Timeline, orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    healing = delete_pod(orchlab_hello_k8s, orchlab_pod_watch, orchlab_kube_traffic, progress=orchlab_progress)
    orchlab_grade(verdicts.self_healing(healing), attach=evidence(orchlab_hello_k8s, orchlab_kube_traffic))


@pytest.mark.checkpoint("p3-rolling-update", points=3, requires=["p3-nodeport-reachable"])
def test_rolling_update(orchlab_kube_rolling_update: KubeRollout, orchlab_hello_k8s: HelloDeployment, orchlab_kube_traffic: Timeline,
                        orchlab_grade: Grade) -> None:
    orchlab_grade(verdicts.rolling_update(orchlab_kube_rolling_update), attach=evidence(orchlab_hello_k8s, orchlab_kube_traffic))


@pytest.mark.checkpoint("p3-rollback", points=2, requires=["p3-nodeport-reachable"])
def test_rollback(orchlab_kube_rolling_update: KubeRollout, orchlab_hello_k8s: HelloDeployment, orchlab_kube_traffic: Timeline,
                  orchlab_progress: Progress, orchlab_grade: Grade) -> None:
    back = undo(orchlab_hello_k8s, orchlab_kube_traffic, progress=orchlab_progress)
    orchlab_grade(verdicts.rolled_back(back), attach=evidence(orchlab_hello_k8s, orchlab_kube_traffic))
