"""Phase 3's pure parts: the cluster's kind from its nodes, the lookup order, the student's manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_orchlab.core.errors import LabInputError
from pytest_orchlab.kube import connect
from pytest_orchlab.kube.deployment import read_manifests


def node(**over: object) -> dict[str, object]:
    base = {"name": "n1", "ready": True, "address": "192.168.49.2", "runtime": "docker://20.10", "kubelet": "v1.28.3",
            "labels": {}, "provider_id": ""}
    return {**base, **over}


@pytest.mark.parametrize(("nodes", "kind"), [
    ([node(labels={"minikube.k8s.io/name": "minikube"})], ("minikube", "minikube")),
    ([node(provider_id="kind://docker/lab/lab-control-plane")], ("kind", "lab")),
    ([node(name="docker-desktop")], ("docker-desktop", "docker-desktop")),
    ([node(kubelet="v1.21.2+k3s1")], ("k3s", "n1")),
    ([node()], ("other", "n1")),
])
def test_cluster_kind_from_its_nodes(nodes: list[dict[str, object]], kind: tuple[str, str], tmp_path: Path) -> None:
    assert connect.cluster_kind(nodes, str(tmp_path / "config")) == kind


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("x")
    second.write_text("x")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert [c[2] for c in connect.candidates(None, None)] == ["KUBECONFIG", "KUBECONFIG"]
    assert connect.candidates(str(first), "ctx") == [(str(first), "ctx", "--kubeconfig")]


def test_manifests_get_our_image_and_labels(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(
        (Path(__file__).resolve().parents[2] / "sample_app" / "variants" / "readiness" / "phase3" / "hello-k8s.yaml").read_text())
    docs = read_manifests(tmp_path, {"simple-web:v1": "orchlab/simple-web:v1-x"}, {"orchlab.run": "r1"})
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "orchlab/simple-web:v1-x"
    assert all(d["metadata"]["labels"]["orchlab.run"] == "r1" for d in docs)


def test_broken_manifests_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Deployment\n  metadata: [\n")
    with pytest.raises(LabInputError, match="bad.yaml is not valid YAML"):
        read_manifests(tmp_path, {}, {})
    (tmp_path / "bad.yaml").write_text("kind: Service\nmetadata:\n  name: hello-k8s\n")
    with pytest.raises(LabInputError, match="no Deployment named hello-k8s"):
        read_manifests(tmp_path, {}, {})


def test_a_rolling_update_with_timeouts_fails_and_says_what_they_waited_on() -> None:
    from pytest_orchlab.kube.deployment import PodView
    from pytest_orchlab.kube.experiments import KubeRollout
    from pytest_orchlab.kube.verdicts import rolling_update
    from pytest_orchlab.measure.traffic import Reply

    pods = [PodView(f"hello-k8s-{n}", "Running", True, "simple-web:v2", "", 0, False) for n in range(3)]
    ok = [Reply(100.0 + n / 50, 0.004, 200, greeting="Greetings", answered_by=f"hello-k8s-{n % 3}") for n in range(100)]
    lost = [Reply(100.3, 3.0, error="timeout", stalled="connect"), Reply(100.32, 3.0, error="timeout", stalled="connect")]
    roll = KubeRollout("update", "simple-web:v2", 100.0, 102.0, True, 3, pods, ok + lost, ok[-20:], readiness_probe=True)
    verdict = rolling_update(roll)
    assert not verdict.passed and verdict.evidence["timeouts_waited_on"] == {"connect": 2}
    assert "2 waited on the connection, 0 on the answer" in verdict.seen.en
    assert verdict.evidence["answer_s"]["slowest"] == 0.004
