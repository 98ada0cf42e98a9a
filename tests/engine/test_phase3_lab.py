"""Phase 3 on a real Kubernetes (k3s started by `orchlab cluster up`): the reference lab, the readiness
variant, a student's own hello-k8s, an image the cluster cannot get, a wrong targetPort, Ctrl-C.

The cluster runs only for this module (an idle one takes ~30 % of a core, which Phase 1's CPU
checkpoint must not share), and `orchlab cluster down` must leave nothing of it behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from kubernetes.client.exceptions import ApiException

from pytest_orchlab.cli import main
from pytest_orchlab.docker.engine import RUN_LABEL
from pytest_orchlab.kube.cluster import kubeconfig_path
from pytest_orchlab.kube.connect import Cluster, find_cluster
from pytest_orchlab.measure.waiting import poll
from tests.helpers import ROOT, SAMPLE, by_id, leftovers, outcomes, run_lab, start_lab_until, student_image

PHASE3 = ["p3-cluster-ready", "p3-deployment-ready", "p3-nodeport-exposed", "p3-nodeport-reachable",
          "p3-scale-out", "p3-self-healing", "p3-rolling-update", "p3-rollback"]
K3S = os.environ.get("ORCHLAB_K3S") or str(ROOT.parent / "shared" / "k8s" / "k3s-v1.21.2-amd64.xz")
READINESS = SAMPLE / "variants" / "readiness"


def kube_chains() -> list[str]:
    out = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if line.startswith("-N KUBE-")]


@pytest.fixture(scope="module")
def cluster(client: docker.DockerClient) -> Iterator[None]:
    assert main(["cluster", "up", "--k3s", K3S]) == 0
    yield
    assert main(["cluster", "down"]) == 0
    assert client.containers.list(all=True, filters={"label": "io.kubernetes.docker.type"}) == [], "pod containers left"
    assert subprocess.run(["ip", "link", "show", "cni0"], capture_output=True, check=False).returncode != 0, "cni0 left"
    assert kube_chains() == [], "KUBE-* chains left"
    assert not kubeconfig_path().exists()


def no_run_objects(client: docker.DockerClient) -> None:
    k8s = find_cluster(str(kubeconfig_path()))
    assert k8s.apps.list_namespaced_deployment("default", label_selector=RUN_LABEL).items == []
    assert k8s.core.list_namespaced_service("default", label_selector=RUN_LABEL).items == []
    assert client.containers.list(filters={"label": "io.kubernetes.pod.namespace=default"}) == [], "pod containers still run"
    assert leftovers(client) == []


def test_status_names_the_kubeconfig(cluster: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "status"]) == 0
    out = capsys.readouterr().out
    assert "node orchlab Ready" in out and f"kubeconfig: {kubeconfig_path()}" in out.splitlines()


def test_reference_lab_on_kubernetes(cluster: None, pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    result, report = run_lab(pytester, SAMPLE, "-m", "phase3")
    got = outcomes(report)
    # Without a readinessProbe the update may lose requests; it is reported truthfully either way.
    assert {k: v for k, v in got.items() if k != "p3-rolling-update"} == {cid: "passed" for cid in PHASE3 if cid != "p3-rolling-update"}, \
        result.stdout.str()
    update = by_id(report, "p3-rolling-update")
    assert update["outcome"] in ("passed", "failed") and update["evidence"]["readiness_probe"] is False
    if update["outcome"] == "failed":
        assert update["evidence"]["failed_requests"] > 0 and "readinessProbe" in update["hint"]
    assert report["cluster"]["kind"] == "orchlab-k3s" and report["cluster"]["source"] == "orchlab cluster"
    heal = by_id(report, "p3-self-healing")["evidence"]
    assert 0 < heal["recovery_s"] < 30 and heal["ready_after"] == 5
    assert len(by_id(report, "p3-scale-out")["evidence"]["distribution"]) >= 3
    assert "Hello from hello-k8s-" in by_id(report, "p3-nodeport-reachable")["message"]
    no_run_objects(client)


def test_readiness_variant_updates_without_failed_requests(cluster: None, pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    result, report = run_lab(pytester, READINESS, "-m", "phase3")
    assert outcomes(report) == {cid: "passed" for cid in PHASE3}, result.stdout.str()
    update = by_id(report, "p3-rolling-update")["evidence"]
    assert update["readiness_probe"] is True and update["failed_requests"] == 0 and update["answers_after"] == {"Greetings": 20}
    no_run_objects(client)


def test_students_own_hello_k8s_is_graded_in_place_and_put_back(cluster: None, pytester: pytest.Pytester,
                                                                  client: docker.DockerClient, tmp_path: Path) -> None:
    student_tag, image_id = student_image(client, tmp_path)
    k8s = find_cluster(str(kubeconfig_path()))
    from pytest_orchlab.kube.deployment import lab_deployment, lab_service

    k8s.apps.create_namespaced_deployment("default", lab_deployment(student_tag, {}))
    k8s.core.create_namespaced_service("default", lab_service({}))
    try:
        result, report = run_lab(pytester, SAMPLE, "-m", "phase3")
        got = outcomes(report)
        assert got["p3-deployment-ready"] == "passed" and got["p3-scale-out"] == "passed" and got["p3-rollback"] == "passed", \
            result.stdout.str()
        dep = k8s.apps.read_namespaced_deployment("hello-k8s", "default")
        assert dep.spec.replicas == 1, "the replica count is put back"
        assert dep.spec.template.spec.containers[0].image == student_tag, "the image is put back"
        assert RUN_LABEL not in (dep.metadata.labels or {})
        assert k8s.core.read_namespaced_service("hello-k8s", "default") is not None
    finally:
        remove_students_hello(k8s)
        poll(lambda: not client.containers.list(filters={"ancestor": image_id}), bool, timeout=60, interval=0.5)
        client.images.remove(image_id, force=True)


def remove_students_hello(k8s: Cluster) -> None:
    """As the student would: scale to 0 (so no new pod is made meanwhile), delete, and wait until no pod is left."""
    k8s.apps.patch_namespaced_deployment_scale("hello-k8s", "default", {"spec": {"replicas": 0}})
    k8s.apps.delete_namespaced_deployment("hello-k8s", "default", propagation_policy="Foreground", _preload_content=False)
    k8s.core.delete_namespaced_service("hello-k8s", "default", _preload_content=False)
    for pod in k8s.core.list_namespaced_pod("default", label_selector="app=hello-k8s").items:
        try:
            k8s.core.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=0, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise
    gone, _ = poll(lambda: not k8s.core.list_namespaced_pod("default", label_selector="app=hello-k8s").items, bool, timeout=60, interval=0.5)
    assert gone, "the student's hello-k8s pods did not go away"
    stopped, _ = poll(lambda: not docker.from_env().containers.list(filters={"label": "io.kubernetes.pod.namespace=default"}),
                      bool, timeout=60, interval=0.5)
    assert stopped, "the student's pod containers did not stop"


def _phase3_manifest(lab: Path, old: str, new: str) -> None:
    (lab / "phase3").mkdir()
    text = (READINESS / "phase3" / "hello-k8s.yaml").read_text()
    assert old in text
    (lab / "phase3" / "hello-k8s.yaml").write_text(text.replace(old, new))


def test_image_the_cluster_cannot_get_fails_with_the_load_hint(cluster: None, pytester: pytest.Pytester, lab_copy: Path,
                                                               client: docker.DockerClient) -> None:
    _phase3_manifest(lab_copy, "image: simple-web:v1", "image: simple-web:v9")
    result, report = run_lab(pytester, lab_copy, "-m", "phase3")
    got = outcomes(report)
    assert got["p3-cluster-ready"] == "passed" and got["p3-deployment-ready"] == "failed", result.stdout.str()
    ready = by_id(report, "p3-deployment-ready")
    assert "cannot get its image" in ready["message"] and "simple-web:v9" in ready["message"]
    assert "the cluster cannot get the image" in ready["hint"]
    assert {got[c] for c in PHASE3[2:]} == {"blocked"} and "Traceback" not in result.stdout.str()
    no_run_objects(client)


def test_wrong_target_port_is_exposed_but_unreachable(cluster: None, pytester: pytest.Pytester, lab_copy: Path,
                                                      client: docker.DockerClient) -> None:
    _phase3_manifest(lab_copy, "targetPort: 5000", "targetPort: 5001")
    result, report = run_lab(pytester, lab_copy, "-m", "phase3")
    got = outcomes(report)
    assert got["p3-nodeport-exposed"] == "passed" and got["p3-nodeport-reachable"] == "failed", result.stdout.str()
    reach = by_id(report, "p3-nodeport-reachable")
    assert "targetPort (5001) is not the 5000 the app listens on" in reach["hint"]
    no_run_objects(client)


def test_ctrl_c_during_the_rolling_update_leaves_nothing(cluster: None, tmp_path: Path, client: docker.DockerClient) -> None:
    proc, seen = start_lab_until("kubectl set image deployment/hello-k8s", tmp_path, "-m", "phase3")
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, "".join(seen) + rest
    no_run_objects(client)
