"""Finding the student's cluster through a kubeconfig, telling its kind, and getting the lab's image into it.

Looked for in this order: ``--kubeconfig``/``--kube-context``, ``KUBECONFIG``, ``~/.kube/config``, then
the running orchlab cluster. Every API call goes through the official ``kubernetes`` client.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from pytest_orchlab.core.errors import NotGradable
from pytest_orchlab.core.runs import kubeconfig_path
from pytest_orchlab.core.text import Text, t

NOT_THERE = t("minikube start (실습의 방법) 이나 `orchlab cluster up` 으로 클러스터를 시작하고, 필요하면 --kubeconfig/--kube-context 를 주세요.",
              "start a cluster with minikube start (the lab's way) or `orchlab cluster up`, and give --kubeconfig/--kube-context if needed.")


def api_client(kubeconfig: str, context: str | None = None) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=kubeconfig, context=context)


def ready_nodes(kubeconfig: str, context: str | None = None) -> list[str]:
    api = k8s.CoreV1Api(api_client(kubeconfig, context))
    nodes = api.list_node(_request_timeout=5).items
    return [n.metadata.name for n in nodes
            if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))]


@dataclass
class Cluster:
    """A cluster that answered: how it was found, what kind it is, its nodes."""

    api: k8s.ApiClient
    kubeconfig: str
    context: str | None
    source: str
    server_version: str
    kind: str
    kind_name: str
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    @property
    def node_address(self) -> str:
        """Where a NodePort answers from this machine: what ``minikube service --url`` prints."""
        if self.kind == "orchlab-k3s":
            return "127.0.0.1"  # the node is this machine, and kube-proxy serves NodePorts on loopback too
        for node in self.nodes:
            if node["ready"] and node["address"]:
                return str(node["address"])
        return "127.0.0.1"

    def describe(self) -> dict[str, Any]:
        return {"kubeconfig": self.kubeconfig, "context": self.context, "source": self.source,
                "server_version": self.server_version, "kind": self.kind, "nodes": self.nodes}


def candidates(kubeconfig: str | None, context: str | None) -> list[tuple[str, str | None, str]]:
    """(kubeconfig file, context, where it came from), in the order they are tried."""
    found: list[tuple[str, str | None, str]] = []
    if kubeconfig:
        return [(os.path.expanduser(kubeconfig), context, "--kubeconfig")]
    for path in filter(None, os.environ.get("KUBECONFIG", "").split(os.pathsep)):
        found.append((path, context, "KUBECONFIG"))
    default = os.path.expanduser("~/.kube/config")
    found.append((default, context, "~/.kube/config"))
    found.append((str(kubeconfig_path()), None, "orchlab cluster"))
    return [c for c in found if Path(c[0]).exists()]


def _node_rows(core: k8s.CoreV1Api) -> list[dict[str, Any]]:
    rows = []
    for n in core.list_node(_request_timeout=10).items:
        addresses = {a.type: a.address for a in (n.status.addresses or [])}
        rows.append({
            "name": n.metadata.name,
            "ready": any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or [])),
            "address": addresses.get("InternalIP") or addresses.get("ExternalIP") or addresses.get("Hostname"),
            "runtime": n.status.node_info.container_runtime_version,
            "kubelet": n.status.node_info.kubelet_version,
            "labels": dict(n.metadata.labels or {}),
            "provider_id": n.spec.provider_id or "",
        })
    return rows


def cluster_kind(nodes: list[dict[str, Any]], kubeconfig: str) -> tuple[str, str]:
    """(kind, its name): minikube, kind, docker-desktop, orchlab-k3s, k3s, other."""
    for node in nodes:
        labels = node["labels"]
        if "minikube.k8s.io/name" in labels:
            return "minikube", labels["minikube.k8s.io/name"]
        if node["provider_id"].startswith("kind://"):
            return "kind", node["provider_id"].split("/")[-2]
        if node["name"] == "docker-desktop":
            return "docker-desktop", "docker-desktop"
    if Path(kubeconfig).resolve() == kubeconfig_path().resolve():
        return "orchlab-k3s", "orchlab"
    if any("+k3s" in (node["kubelet"] or "") for node in nodes):
        return "k3s", nodes[0]["name"]
    return "other", nodes[0]["name"] if nodes else ""


def find_cluster(kubeconfig: str | None = None, context: str | None = None) -> Cluster:
    """The first cluster that answers, or :class:`NotGradable` saying what was tried and what to do."""
    tried: list[str] = []
    for path, ctx, source in candidates(kubeconfig, context):
        try:
            api = api_client(path, ctx)
            version = k8s.VersionApi(api).get_code(_request_timeout=5).git_version
            nodes = _node_rows(k8s.CoreV1Api(api))
        except Exception as exc:  # noqa: BLE001 - every failure here means: this candidate does not answer
            tried.append(f"{source} {path}{' context ' + ctx if ctx else ''}: {str(exc).strip().splitlines()[0][:120]}")
            continue
        kind, name = cluster_kind(nodes, path)
        current = ctx or k8s_config.list_kube_config_contexts(config_file=path)[1]["name"]
        return Cluster(api, path, current, source, version, kind, name, nodes)
    seen = "; ".join(tried) or t("kubeconfig 가 하나도 없습니다", "no kubeconfig at all").en
    raise NotGradable(t(f"응답하는 Kubernetes 클러스터가 없습니다 ({seen}).", f"No Kubernetes cluster answers ({seen})."), NOT_THERE)


def shares_engine(cluster: Cluster, engine_client: Any) -> bool:
    """True when the cluster's pods run on this run's Docker engine (orchlab-k3s, Docker Desktop, k3s --docker)."""
    if cluster.kind in ("orchlab-k3s", "docker-desktop"):
        return True
    if not all(str(n["runtime"]).startswith("docker://") for n in cluster.nodes):
        return False
    return bool(engine_client.containers.list(filters={"label": "io.kubernetes.pod.namespace"}, limit=1))


def load_image(cluster: Cluster, engine_client: Any, tag: str) -> Text:
    """Put the image built here into the cluster the way its kind needs; what was done (or what to run)."""
    if shares_engine(cluster, engine_client):
        return t("클러스터가 같은 Docker 엔진을 씁니다: 이미지를 옮길 필요가 없습니다.",
                 "the cluster runs its pods on this Docker engine: the image is already there.")
    if cluster.kind == "minikube":
        command = ["minikube", "-p", cluster.kind_name, "image", "load", tag]
    elif cluster.kind == "kind":
        command = ["kind", "load", "docker-image", tag, "--name", cluster.kind_name]
    else:
        return t(f"이 클러스터({cluster.kind})에 {tag} 를 넣는 방법을 모릅니다: 레지스트리에 push 하거나 노드에 직접 load 하세요.",
                 f"orchlab does not know how to put {tag} into this cluster ({cluster.kind}): push it to a registry "
                 "the cluster can pull from, or load it on the nodes.")
    if shutil.which(command[0]) is None:
        return t(f"{command[0]} 가 PATH 에 없어 이미지를 넣지 못했습니다: `{' '.join(command)}` 를 실행하세요.",
                 f"{command[0]} is not on PATH, so the image was not loaded: run `{' '.join(command)}`.")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        return t(f"`{' '.join(command)}` 가 실패했습니다: {done.stderr.strip()[-200:]}",
                 f"`{' '.join(command)}` failed: {done.stderr.strip()[-200:]}")
    return t(f"`{' '.join(command)}` 로 이미지를 넣었습니다.", f"loaded the image with `{' '.join(command)}`.")


def load_hint(cluster: Cluster, tag: str) -> Text:
    """What the student runs so that the cluster has the image (the lab never says; students hit ErrImagePull)."""
    how = {"minikube": f"minikube image load {tag}", "kind": f"kind load docker-image {tag} --name {cluster.kind_name}",
           "docker-desktop": f"docker build -t {tag} . (Docker Desktop's Kubernetes sees the image at once)",
           "orchlab-k3s": f"docker build -t {tag} . (the orchlab cluster uses this Docker engine)"}
    command = how.get(cluster.kind, f"docker push {tag} to a registry the cluster pulls from")
    return t(f"클러스터가 이미지를 가져오지 못했습니다: `{command}` 를 실행하세요 (imagePullPolicy: IfNotPresent).",
             f"the cluster cannot get the image: run `{command}` (with imagePullPolicy: IfNotPresent).")
