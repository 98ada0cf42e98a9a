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
from pytest_orchlab.core.runs import kubeconfig_path
from pytest_orchlab.docker.engine import RUN_LABEL
from pytest_orchlab.kube.connect import Cluster, find_cluster
from pytest_orchlab.measure.waiting import poll
from tests.helpers import BASE_IMAGE, ROOT, SAMPLE, by_id, leftovers, outcomes, run_lab, start_lab_until, student_image

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


HOSTILE_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello-k8s}
spec:
  replicas: 1
  selector:
    matchExpressions: [{key: app, operator: Exists}]
  template:
    metadata: {labels: {app: hello-k8s}}
    spec:
      hostNetwork: true
      volumes: [{name: root, hostPath: {path: HOSTDIR}}]
      containers:
        - name: web
          image: simple-web:v1
          securityContext: {privileged: true}
          volumeMounts: [{name: root, mountPath: /host}]
          command: ["sh", "-c", "touch /host/owned; python app.py"]
"""


def test_a_hostile_manifest_reaches_nothing_and_other_pods_stay(cluster: None, pytester: pytest.Pytester, lab_copy: Path,
                                                                client: docker.DockerClient, tmp_path: Path) -> None:
    k8s = find_cluster(str(kubeconfig_path()))
    teacher = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "teacher"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "teacher"}},
                        "template": {"metadata": {"labels": {"app": "teacher"}},
                                     "spec": {"terminationGracePeriodSeconds": 0,
                                              "containers": [{"name": "t", "image": BASE_IMAGE, "command": ["sleep", "3600"]}]}}}}
    k8s.apps.create_namespaced_deployment("default", teacher)
    try:
        up, _ = poll(lambda: [p for p in k8s.core.list_namespaced_pod("default", label_selector="app=teacher").items
                              if p.status.phase == "Running"], bool, timeout=60, interval=0.5)
        assert up, "the teacher's pod did not start"
        host_dir = tmp_path / "host"
        host_dir.mkdir()
        (lab_copy / "phase3").mkdir()
        (lab_copy / "phase3" / "hello-k8s.yaml").write_text(HOSTILE_MANIFEST.replace("HOSTDIR", str(host_dir)))
        result, report = run_lab(pytester, lab_copy, "-m", "phase3", "-k", "cluster_ready or deployment_ready")
        ready = by_id(report, "p3-deployment-ready")
        assert ready["outcome"] == "failed", result.stdout.str()
        for said in ("not plain matchLabels", "hostNetwork", "a volume of kind hostPath", "a privileged container"):
            assert said in ready["message"], (said, ready["message"])
        assert "phase3/hello-k8s.yaml:" in ready["message"] and "Traceback" not in result.stdout.str()
        assert [d.metadata.name for d in k8s.apps.list_namespaced_deployment("default").items] == ["teacher"]
        after = [p for p in k8s.core.list_namespaced_pod("default", label_selector="app=teacher").items if p.status.phase == "Running"]
        assert [p.metadata.uid for p in after] == [p.metadata.uid for p in up], "the teacher's pod is untouched"
        assert list(host_dir.iterdir()) == [] and leftovers(client) == []
    finally:
        k8s.apps.delete_namespaced_deployment("teacher", "default", propagation_policy="Foreground", _preload_content=False)
        for pod in k8s.core.list_namespaced_pod("default", label_selector="app=teacher").items:
            try:  # the deployment's own deletion may have removed it between the list and this call
                k8s.core.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=0, _preload_content=False)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        poll(lambda: not client.containers.list(filters={"label": "io.kubernetes.pod.namespace=default"}), bool, timeout=60, interval=0.5)
    no_run_objects(client)


def test_a_graded_run_works_in_a_namespace_of_its_own(cluster: None, pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    # orchlab grade runs every student as an instance: it never meets, adopts or deletes anything of the default namespace.
    result, report = run_lab(pytester, SAMPLE, "-m", "phase3", "--lab-instance", "g7",
                             "-k", "cluster_ready or deployment_ready or nodeport_exposed or nodeport_reachable")
    assert set(outcomes(report).values()) == {"passed"}, result.stdout.str()
    k8s = find_cluster(str(kubeconfig_path()))
    assert k8s.core.list_namespace(label_selector=RUN_LABEL).items == [], "the run's namespace is gone"
    no_run_objects(client)
