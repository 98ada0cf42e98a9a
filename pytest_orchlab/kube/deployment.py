"""Phase 3 실습 7: ``kubectl create deployment hello-k8s`` and ``kubectl expose --type=NodePort --port=5000``.

Graded in place when the student's own ``hello-k8s`` exists (and put back as found), applied from the
lab folder's optional ``phase3/`` manifests when present, else made as the lab's commands make it,
labelled with the run id and removed at the end.
"""

from __future__ import annotations

import copy
import functools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import docker.errors
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from pytest_orchlab.core.errors import LabInputError, NotGradable
from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.runs import run_alive
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import RUN_LABEL
from pytest_orchlab.kube.connect import Cluster
from pytest_orchlab.measure.waiting import poll

NAME = "hello-k8s"
APP_PORT = 5000
SELECTOR = f"app={NAME}"
MANIFEST_STEP = t("Phase 3 실습 7: kubectl create deployment / expose", "Phase 3 exercise 7: kubectl create deployment / expose")
GREETING = re.compile(r"(Hello|Greetings) from ([\w.\-]+)")
PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}


def lab_deployment(image: str, labels: dict[str, str]) -> dict[str, Any]:
    """What ``kubectl create deployment hello-k8s --image=simple-web:v1`` creates (container named after the image)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": NAME, "labels": {"app": NAME, **labels}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": NAME}},
                     "template": {"metadata": {"labels": {"app": NAME}},
                                  "spec": {"containers": [{"name": "simple-web", "image": image}]}}}}


def lab_service(labels: dict[str, str]) -> dict[str, Any]:
    """What ``kubectl expose deployment hello-k8s --type=NodePort --port=5000`` creates."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME, "labels": {"app": NAME, **labels}},
            "spec": {"type": "NodePort", "selector": {"app": NAME}, "ports": [{"port": APP_PORT, "targetPort": APP_PORT, "protocol": "TCP"}]}}


LAB_IMAGES = {"simple-web"}  # what a manifest's containers may run: the lab's image (any tag; v1 is built from phase1/)


def read_manifests(folder: Path, images: dict[str, str], labels: dict[str, str], shown: str = "phase3") -> list[dict[str, Any]]:
    """The student's ``phase3/*.yaml`` (the gate's snapshot), checked against the lab's policy before anything reaches
    the cluster; then our image tags and labels, and no service-account token in the pods (the lab's app needs none)."""
    from pytest_orchlab.submission.policy import manifest_refusals
    from pytest_orchlab.submission.refusals import Refusal, refused
    from pytest_orchlab.submission.snapshot import Caps
    from pytest_orchlab.submission.textfile import decode
    from pytest_orchlab.submission.yamldoc import Document, load

    parsed: list[tuple[str, Document]] = []
    problems: list[Refusal] = []
    for path in sorted(folder.glob("*.y*ml")):
        where = f"{shown}/{path.name}"
        data = path.read_bytes()[:Caps().parsed_bytes + 1]
        big = Refusal(where, t("파일이 너무 큽니다.", "is bigger than the cap for a file the lab parses."))
        text = decode(data, where) if len(data) <= Caps().parsed_bytes else big
        loaded = load(text, where) if isinstance(text, str) else text
        if isinstance(loaded, Refusal):
            problems.append(loaded)
            continue
        parsed += [(where, doc) for doc in loaded]
    problems += manifest_refusals(parsed, LAB_IMAGES)
    if problems:
        raise refused(problems, MANIFEST_STEP, t("실습에는 simple-web:v1 의 Deployment 와 NodePort Service 만 있으면 됩니다.",
                                                 "the lab needs only a Deployment of simple-web:v1 and a NodePort Service."))
    docs: list[dict[str, Any]] = []
    for _, parsed_doc in parsed:
        doc = copy.deepcopy(parsed_doc.data)
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        meta.pop("namespace", None)
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        doc["metadata"] = meta
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec")
        if doc.get("kind") == "Deployment" and isinstance(pod, dict):
            pod["automountServiceAccountToken"] = False
            for ctr in pod.get("containers") or []:
                ctr["image"] = images.get(ctr.get("image"), ctr.get("image"))
        docs.append(doc)
    kinds = {(d.get("kind"), (d.get("metadata") or {}).get("name")) for d in docs}
    if ("Deployment", NAME) not in kinds:
        raise LabInputError(t(f"phase3/ 에 Deployment {NAME} 가 없습니다.", f"phase3/ has no Deployment named {NAME}."), MANIFEST_STEP)
    return docs


QUIET_S = 3.0  # no container of the run's pods seen for this long: the kubelet is done with them


@dataclass
class HelloDeployment:
    """The lab's deployment and service in ``namespace``, for the run."""

    cluster: Cluster
    lab: LabFolder
    image: str
    run_id: str
    namespace: str = "default"
    progress: Progress = print
    engine_client: Any = None  # the run's Docker engine, to wait for pod containers when the cluster shares it
    adopted: bool = False
    from_manifests: bool = False
    own_namespace: bool = False  # a graded run (an instance): the namespace is the run's own, made here and removed
    _restore: dict[str, Any] = field(default_factory=dict)
    _made: list[tuple[str, str]] = field(default_factory=list)
    _pods_seen: set[str] = field(default_factory=set)
    _selector: str = SELECTOR

    @property
    def selector(self) -> str:
        """The deployment's pod selector as a label selector (read-only: nothing is ever deleted by it)."""
        return self._selector

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id}

    def _existing(self) -> k8s.V1Deployment | None:
        try:
            return self.cluster.apps.read_namespaced_deployment(NAME, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def __enter__(self) -> HelloDeployment:
        dead = lambda run: run != self.run_id and not run_alive(run)  # noqa: E731
        sweep_namespace(self.cluster, "default", dead)
        sweep_namespaces(self.cluster, dead)
        if self.own_namespace:
            self.cluster.core.create_namespace({"metadata": {"name": self.namespace, "labels": self.labels}})
        found = self._existing()
        if found is not None and RUN_LABEL in (found.metadata.labels or {}):
            raise NotGradable(t(f"다른 orchlab 실행({found.metadata.labels[RUN_LABEL]})이 {NAME} 를 쓰고 있습니다.",
                                f"Another orchlab run ({found.metadata.labels[RUN_LABEL]}) is using {NAME} right now."),
                              t("그 실행이 끝난 뒤 다시 실행하세요.", "run again once it has finished."))
        if found is not None:
            # The student's own deployment: graded as it runs; what the experiments change is put back.
            self.adopted = True
            self._selector = label_selector(found.spec.selector)
            self._restore = {"replicas": found.spec.replicas, "template": found.spec.template}
            self.progress(f"orchlab: grading your deployment {NAME} in place (it will be put back as found)")
            return self
        try:
            phase3 = self.lab.root / "phase3"
            if phase3.is_dir() and any(phase3.glob("*.y*ml")):
                self.from_manifests = True
                docs = read_manifests(phase3, {"simple-web:v1": self.image}, self.labels)
                dep = next(d for d in docs if d.get("kind") == "Deployment" and d["metadata"].get("name") == NAME)
                self._selector = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())
            else:
                docs = [lab_deployment(self.image, self.labels), lab_service(self.labels)]
            self.progress(f"orchlab: {'applying phase3/' if self.from_manifests else 'kubectl create deployment / expose'} {NAME} ...")
            for doc in docs:
                self._create(doc)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _create(self, doc: dict[str, Any]) -> None:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name", "")
        try:
            if kind == "Deployment":
                self.cluster.apps.create_namespaced_deployment(self.namespace, doc)
            elif kind == "Service":
                self.cluster.core.create_namespaced_service(self.namespace, doc)
            else:
                raise LabInputError(t(f"phase3/ 의 {kind} 는 다루지 않습니다 (Deployment, Service 만).",
                                      f"phase3/ holds a {kind}; only Deployment and Service are applied."), MANIFEST_STEP)
        except ApiException as exc:
            if exc.status in (400, 422):
                raise LabInputError(t(f"{kind} {name} 를 API 가 거절했습니다: {exc.reason} {exc.body[:300] if exc.body else ''}",
                                      f"the API rejected {kind} {name}: {exc.reason} {exc.body[:300] if exc.body else ''}"), MANIFEST_STEP) from None
            raise
        self._made.append((str(kind), str(name)))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.adopted:
            self._put_back()
            return
        sweep_namespace(self.cluster, self.namespace, lambda run: run == self.run_id, self._pods_seen)
        try:
            self._reap_containers()
        finally:
            if self.own_namespace:
                remove_namespace(self.cluster, self.namespace)

    def _reap_containers(self) -> None:
        if self.engine_client is not None:
            # A deleted pod's containers are stopped by the kubelet a moment later; leave none running behind.
            # Quiet for a while, not just once: a sync already under way (a pod retrying its image pull) can start
            # one more sandbox after the pod left the API.
            quiet: list[float] = []

            def look() -> list[dict[str, Any]]:
                found = self._pod_containers()
                if found:
                    quiet.clear()
                elif not quiet:
                    quiet.append(time.monotonic())
                return found

            running, _ = poll(look, lambda found: not found and time.monotonic() - quiet[0] >= QUIET_S, timeout=30, interval=0.5)
            for ctr in running:  # the kubelet did not stop them in time: they belong to pods of this run, now gone
                self._remove_container(ctr["Id"])
            # Their pod sandboxes (the pause containers) stay behind, exited, until the kubelet's garbage
            # collection: those of this run's pods, now gone from the API, are removed here.
            alive = {p.metadata.name for p in self.cluster.core.list_namespaced_pod(self.namespace).items}
            for ctr in self._pod_containers("exited"):
                if (ctr.get("Labels") or {}).get("io.kubernetes.pod.name") not in alive:
                    self._remove_container(ctr["Id"])

    def _remove_container(self, cid: str) -> None:
        try:
            self.engine_client.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass  # the kubelet removed it first

    def _put_back(self) -> None:
        body = {"spec": {"replicas": self._restore["replicas"], "template": self.cluster.api.sanitize_for_serialization(self._restore["template"])}}
        try:
            self.cluster.apps.patch_namespaced_deployment(NAME, self.namespace, body)
        except ApiException as exc:
            self.progress(f"orchlab: could not put {NAME} back ({exc.reason}); it had {self._restore['replicas']} replicas")

    def _pod_containers(self, status: str = "running") -> list[dict[str, Any]]:
        """Containers (app and sandbox) of this run's pods on the shared engine, as the list endpoint gives
        them: one call, no inspect of each (the kubelet may remove one in between)."""
        found = self.engine_client.api.containers(all=True, filters={"status": status, "label": f"io.kubernetes.pod.namespace={self.namespace}"})
        return [c for c in found if (c.get("Labels") or {}).get("io.kubernetes.pod.name") in self._pods_seen
                or (c.get("Labels") or {}).get(RUN_LABEL) == self.run_id]

    def service(self) -> k8s.V1Service | None:
        try:
            return self.cluster.core.read_namespaced_service(NAME, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pods(self) -> list[k8s.V1Pod]:
        found = list(self.cluster.core.list_namespaced_pod(self.namespace, label_selector=self.selector).items)
        if not self.adopted:
            self._pods_seen |= {p.metadata.name for p in found}  # ours: their sandboxes are removed at the end
        return found


def label_selector(selector: Any) -> str:
    """A ``V1LabelSelector`` as the API's label-selector string (``app=x,tier in (a,b),!debug``)."""
    parts = [f"{k}={v}" for k, v in (selector.match_labels or {}).items()]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        parts.append({"In": f"{expr.key} in ({values})", "NotIn": f"{expr.key} notin ({values})",
                      "Exists": expr.key, "DoesNotExist": f"!{expr.key}"}.get(expr.operator, expr.key))
    return ",".join(parts)


def sweep_namespace(cluster: Cluster, namespace: str, select: Any, pods_deleted: set[str] | None = None) -> list[str]:
    """Remove this run's (or dead runs') labelled deployments and services, and their pods at once.

    Pods are found through what the run created (the ReplicaSets the deployment owns, and the pods they own),
    never through a label selector a student wrote. The names of the pods deleted on the way are added to
    ``pods_deleted``.
    """
    removed = []
    for dep in cluster.apps.list_namespaced_deployment(namespace, label_selector=RUN_LABEL).items:
        if select(dep.metadata.labels[RUN_LABEL]):
            name, uid = dep.metadata.name, dep.metadata.uid
            # Foreground: the deployment and then its ReplicaSets are marked deleted, so their controllers stop
            # replacing pods, and the deployment object goes last, after its pods.
            try:
                cluster.apps.delete_namespaced_deployment(name, namespace, propagation_policy="Foreground", _preload_content=False)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            removed.append(f"deployment {name}")
            owners: set[str] = set()
            gone = functools.partial(_deployment_gone, cluster, namespace, name, uid, owners, pods_deleted if pods_deleted is not None else set())
            poll(gone, bool, timeout=60, interval=0.5)
    for svc in cluster.core.list_namespaced_service(namespace, label_selector=RUN_LABEL).items:
        if select(svc.metadata.labels[RUN_LABEL]):
            cluster.core.delete_namespaced_service(svc.metadata.name, namespace, _preload_content=False)
            removed.append(f"service {svc.metadata.name}")
    return removed


def _owned_by(obj: Any, uids: set[str]) -> bool:
    return any(o.uid in uids for o in (obj.metadata.owner_references or []))


def _deployment_gone(cluster: Cluster, namespace: str, name: str, uid: str, owners: set[str], pods_deleted: set[str]) -> bool:
    """Delete the pods the deployment's ReplicaSets own (also one made a moment ago); True once they and it are gone.

    ``owners`` keeps every ReplicaSet uid seen, so a pod whose ReplicaSet left first is still recognised as ours.
    """
    owners |= {rs.metadata.uid for rs in cluster.apps.list_namespaced_replica_set(namespace).items if _owned_by(rs, {uid})}
    pods = [p for p in cluster.core.list_namespaced_pod(namespace).items if _owned_by(p, owners)]
    for pod in pods:
        pods_deleted.add(pod.metadata.name)
        # The app ignores SIGTERM (python as PID 1): without grace 0 each pod would wait out its 30 s grace period.
        try:
            cluster.core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise
    if pods:
        return False
    try:
        cluster.apps.read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def run_namespace(instance: str, run_id: str) -> str:
    """The namespace of one graded run (``orchlab grade``): its own, so nothing of anybody else's is in reach."""
    return f"orchlab-{instance}-{run_id.lower()}"[:63].rstrip("-")


def sweep_namespaces(cluster: Cluster, select: Any) -> list[str]:
    """Remove the run namespaces (labelled ``orchlab.run``) whose run ``select`` picks."""
    removed = []
    for ns in cluster.core.list_namespace(label_selector=RUN_LABEL).items:
        if select(ns.metadata.labels[RUN_LABEL]) and ns.status.phase != "Terminating":
            sweep_namespace(cluster, ns.metadata.name, select)
            remove_namespace(cluster, ns.metadata.name, wait_s=0)
            removed.append(f"namespace {ns.metadata.name}")
    return removed


def remove_namespace(cluster: Cluster, namespace: str, wait_s: float = 30.0) -> None:
    """Delete a run's namespace and wait (up to ``wait_s``) until the API no longer lists it."""
    try:
        cluster.core.delete_namespace(namespace, _preload_content=False)
    except ApiException as exc:
        if exc.status != 404:
            raise

    def gone() -> bool:
        try:
            cluster.core.read_namespace(namespace)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    if wait_s:
        poll(gone, bool, timeout=wait_s, interval=0.5)


@dataclass(frozen=True)
class PodView:
    """One pod as ``kubectl get pods`` and ``describe`` show it."""

    name: str
    phase: str
    ready: bool
    image: str
    reason: str
    restarts: int
    deleting: bool


def pod_views(pods: list[k8s.V1Pod]) -> list[PodView]:
    views = []
    for pod in pods:
        statuses = pod.status.container_statuses or []
        reason = ""
        for st in statuses:
            if st.state and st.state.waiting and st.state.waiting.reason:
                reason = st.state.waiting.reason
            elif st.state and st.state.terminated and st.state.terminated.reason:
                reason = st.state.terminated.reason
        if not statuses and pod.status.phase == "Pending":
            reason = next((c.reason or "" for c in (pod.status.conditions or []) if c.status == "False" and c.reason), "Pending")
        views.append(PodView(pod.metadata.name, pod.status.phase or "", bool(statuses) and all(s.ready for s in statuses),
                             pod.spec.containers[0].image, reason, sum(s.restart_count for s in statuses),
                             pod.metadata.deletion_timestamp is not None))
    return views


@dataclass
class Readiness:
    """How the deployment came up: available replicas, pods, and what a teacher reads when it did not."""

    ready: bool
    seconds: float
    desired: int
    available: int
    pods: list[PodView]
    logs: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def wait_available(dep: HelloDeployment, replicas: int | None = None, timeout: float = 60.0) -> Readiness:
    """Poll until ``replicas`` (default: the spec's) pods are ready and none is left over, or a pod is stuck."""
    start = time.monotonic()

    def look() -> tuple[int, int, list[PodView]]:
        d = dep.cluster.apps.read_namespaced_deployment(NAME, dep.namespace)
        return int(replicas if replicas is not None else d.spec.replicas or 0), int(d.status.available_replicas or 0), pod_views(dep.pods())

    def done(state: tuple[int, int, list[PodView]]) -> bool:
        want, _, pods = state
        live = [p for p in pods if not p.deleting]
        stuck = any(p.reason in PULL_REASONS | {"CrashLoopBackOff"} for p in live)
        return stuck or (len(live) == want and sum(p.ready for p in live) == want)

    (want, available, pods), _ = poll(look, done, timeout=timeout, interval=0.2)
    live = [p for p in pods if not p.deleting]
    ok = len(live) == want and sum(p.ready for p in live) == want
    result = Readiness(ok, time.monotonic() - start, want, available, pods)
    if not ok:
        result.logs = pod_logs(dep, pods)
        result.events = recent_events(dep)
    return result


def pod_logs(dep: HelloDeployment, pods: list[PodView], lines: int = 8) -> list[str]:
    out = []
    for pod in pods[:3]:
        try:
            text = dep.cluster.core.read_namespaced_pod_log(pod.name, dep.namespace, tail_lines=lines, previous=pod.restarts > 0)
        except ApiException as exc:
            text = f"(no logs: {exc.reason})"
        out.append(f"{pod.name}: " + " | ".join(str(text).strip().splitlines()[-lines:]))
    return out


def recent_events(dep: HelloDeployment, limit: int = 8) -> list[str]:
    items = dep.cluster.core.list_namespaced_event(dep.namespace).items
    ours = [e for e in items if (e.involved_object.name or "").startswith(NAME)]
    ours.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return [f"{e.involved_object.kind}/{e.involved_object.name}: {e.reason}: {e.message}" for e in ours[-limit:]]


def node_port(dep: HelloDeployment) -> int | None:
    svc = dep.service()
    if svc is None or svc.spec.type != "NodePort":
        return None
    return next((int(p.node_port) for p in svc.spec.ports or [] if p.node_port), None)


def service_view(dep: HelloDeployment) -> dict[str, Any]:
    """``kubectl get svc hello-k8s`` and its ready endpoints."""
    svc = dep.service()
    if svc is None:
        return {"exists": False}
    port = (svc.spec.ports or [None])[0]
    ready: list[str] = []
    try:
        eps = dep.cluster.core.read_namespaced_endpoints(NAME, dep.namespace)
        for subset in eps.subsets or []:
            ready += [f"{a.ip}:{p.port}" for a in subset.addresses or [] for p in subset.ports or []]
    except ApiException:
        pass
    return {"exists": True, "type": svc.spec.type, "port": port.port if port else None,
            "target_port": port.target_port if port else None, "node_port": port.node_port if port else None,
            "selector": svc.spec.selector, "ready_endpoints": ready}


def pod_answer(dep: HelloDeployment, wait_s: float = 10.0) -> dict[str, Any]:
    """``GET /`` on one ready pod through the API server's pod proxy (works on any cluster, no port-forward).

    Without a readinessProbe a pod is Ready as soon as its container started, a moment before Flask
    listens: while the proxy cannot connect, ask again for up to ``wait_s`` s; the answer records the wait.
    """
    def ask() -> dict[str, Any]:
        ready = [p for p in pod_views(dep.pods()) if p.ready and not p.deleting]
        if not ready:
            return {"ok": False, "error": "no ready pod"}
        try:
            resp = dep.cluster.core.connect_get_namespaced_pod_proxy_with_path(f"{ready[0].name}:{APP_PORT}", dep.namespace, "",
                                                                                _preload_content=False, _request_timeout=5)
            body = resp.read(64 * 1024)  # bounded: the app's answer is judged on its greeting
            resp.release_conn()
        except ApiException as exc:
            return {"ok": False, "pod": ready[0].name, "error": f"{exc.status} {exc.reason}"}
        text = body.decode(errors="replace").strip()
        greeting = GREETING.search(text)
        said = greeting.group(0) if greeting is not None else text[:120]
        return {"ok": said == f"Hello from {ready[0].name}", "pod": ready[0].name, "body": said}

    answer, waited = poll(ask, lambda a: "body" in a, timeout=wait_s, interval=0.5)
    return {**answer, "waited_s": round(waited, 1)}


def nodeport_answers(url: str, count: int = 5, wait_s: float = 20.0) -> tuple[list[dict[str, Any]], float]:
    """``curl`` the NodePort ``count`` times, once it answers at all: kube-proxy programs a new service's
    rules a moment after its endpoints are ready. Returns the answers and the seconds waited first."""
    from pytest_orchlab.measure import http

    def get() -> dict[str, Any]:
        answer = http.get(url, timeout=3)
        if answer.status is None:
            return {"error": answer.error}
        greeting = GREETING.search(answer.body)
        return {"status": answer.status, "body": greeting.group(0) if greeting is not None else answer.body.strip()[:120]}

    first, waited = poll(get, lambda a: "status" in a, timeout=wait_s, interval=0.3)
    return [first] + [get() for _ in range(count - 1)], waited
