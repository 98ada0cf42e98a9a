"""Phase 3: the Swarm experiments on Kubernetes, measured under steady traffic through the NodePort.

Scale to 5, delete a pod and time its Ready replacement, roll out ``simple-web:v2`` and undo it, as
``kubectl scale``, ``kubectl delete pod``, ``kubectl set image`` and ``kubectl rollout undo`` do.
Pod changes are recorded live from a watch, so a replacement's Ready moment is not a poll's guess.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import watch
from kubernetes.client.rest import ApiException

from pytest_orchlab.core.progress import Progress
from pytest_orchlab.kube.deployment import NAME, HelloDeployment, PodView, Readiness, pod_views, wait_available
from pytest_orchlab.measure.timeline import Timeline
from pytest_orchlab.measure.traffic import Reply
from pytest_orchlab.measure.waiting import poll

REVISION = "deployment.kubernetes.io/revision"
KUBE_PROXY_SYNC_S = 1.0  # kube-proxy's default --iptables-min-sync-period
AFTER_SETTLE_S = 10.0  # how long departed pods may still answer before that counts against the rollout


class PodWatch:
    """Every change to the deployment's pods (added, modified, deleted, ready or not), recorded as it happens."""

    def __init__(self, dep: HelloDeployment) -> None:
        self.dep = dep
        self.events: list[dict[str, Any]] = []
        self.error: str | None = None
        self._watch = watch.Watch()
        self._closing = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PodWatch:
        self._thread = threading.Thread(target=self._read, name="orchlab-pod-watch", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            for ev in self._watch.stream(self.dep.cluster.core.list_namespaced_pod, self.dep.namespace,
                                         label_selector=self.dep.selector, timeout_seconds=3600):
                view = pod_views([ev["object"]])[0]
                with self._lock:
                    self.events.append({"t": time.time(), "type": ev["type"], "pod": view.name, "ready": view.ready,
                                        "image": view.image, "deleting": view.deleting})
        except Exception as exc:  # noqa: BLE001 - recorded: verdicts that need these events become not gradable
            if not self._closing:
                self.error = f"the pod watch broke: {type(exc).__name__}: {exc}"
            return
        if not self._closing:
            self.error = "the pod watch ended early"

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._watch.stop()

    def first_ready(self, since: float, exclude: set[str]) -> dict[str, Any] | None:
        with self._lock:
            return next((e for e in self.events if e["t"] >= since and e["ready"] and e["pod"] not in exclude), None)


@dataclass
class KubeScale:
    before: int
    desired: int
    readiness: Readiness
    samples: list[Reply] = field(default_factory=list)
    traffic_errors: list[str] = field(default_factory=list)


def scale_out(dep: HelloDeployment, timeline: Timeline, replicas: int = 5, requests: int = 30, progress: Progress = print) -> KubeScale:
    """``kubectl scale deployment hello-k8s --replicas=5``, then 30 requests through the NodePort."""
    before = int(dep.cluster.apps.read_namespaced_deployment(NAME, dep.namespace).spec.replicas or 0)
    progress(f"orchlab: kubectl scale deployment {NAME} --replicas={replicas} ...")
    dep.cluster.apps.patch_namespaced_deployment_scale(NAME, dep.namespace, {"spec": {"replicas": replicas}})
    ready = wait_available(dep, replicas, timeout=90)
    samples = timeline.wait_for(requests, timeline.clock(), 20.0)[:requests]
    return KubeScale(before, replicas, ready, samples, list(timeline.errors))


@dataclass
class KubeHealing:
    deleted: str
    deleted_at: float
    replacement: str | None = None
    ready_at: float | None = None
    ready_after: int = 0
    desired: int = 0
    samples: list[Reply] = field(default_factory=list)
    watch_error: str | None = None
    traffic_errors: list[str] = field(default_factory=list)

    @property
    def recovery_seconds(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.deleted_at


def delete_pod(dep: HelloDeployment, pods: PodWatch, timeline: Timeline, timeout: float = 60.0, progress: Progress = print) -> KubeHealing:
    """``kubectl delete pod``: the ReplicaSet makes a replacement; time until it is Ready (from the watch)."""
    views = [p for p in pod_views(dep.pods()) if p.ready and not p.deleting]
    before = {p.name for p in pod_views(dep.pods())}
    victim = views[0].name
    progress(f"orchlab: kubectl delete pod {victim}; waiting for a Ready replacement ...")
    heal = KubeHealing(victim, time.time(), desired=len(views))
    dep.cluster.core.delete_namespaced_pod(victim, dep.namespace, _preload_content=False)
    ready, _ = poll(lambda: pods.first_ready(heal.deleted_at, before), lambda e: e is not None, timeout, 0.1)
    if ready is not None:
        heal.replacement, heal.ready_at = ready["pod"], ready["t"]
    heal.ready_after = sum(p.ready for p in pod_views(dep.pods()) if not p.deleting)
    end = (heal.ready_at or time.time()) + 2.0
    timeline.wait_for(1, end, 5.0)
    heal.samples, heal.watch_error, heal.traffic_errors = timeline.window(heal.deleted_at, end), pods.error, list(timeline.errors)
    return heal


@dataclass
class KubeRollout:
    """One ``kubectl set image`` or ``kubectl rollout undo``, from request to every pod ready on the target image."""

    kind: str
    target_image: str
    started: float
    ended: float = 0.0
    completed: bool = False
    replicas: int = 0
    pods_after: list[PodView] = field(default_factory=list)
    samples: list[Reply] = field(default_factory=list)
    after: list[Reply] = field(default_factory=list)
    strategy: dict[str, Any] = field(default_factory=dict)
    readiness_probe: bool = False
    traffic_errors: list[str] = field(default_factory=list)
    settled_s: float | None = None  # completion → the service's endpoints list only the new pods

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def _rolled(dep: HelloDeployment, image: str) -> bool:
    d = dep.cluster.apps.read_namespaced_deployment(NAME, dep.namespace)
    want = d.spec.replicas or 0
    st = d.status
    live = [p for p in pod_views(dep.pods()) if not p.deleting]
    return ((st.observed_generation or 0) >= (d.metadata.generation or 0) and (st.updated_replicas or 0) == want
            and (st.available_replicas or 0) == want and (st.replicas or 0) == want
            and len(live) == want and all(p.image == image and p.ready for p in live))


def _endpoints_only(dep: HelloDeployment, pods: set[str]) -> bool:
    try:
        eps = dep.cluster.core.read_namespaced_endpoints(NAME, dep.namespace)
    except ApiException:
        return True  # no service to route through: nothing to settle
    targets = {a.target_ref.name for s in eps.subsets or [] for a in (s.addresses or []) + (s.not_ready_addresses or []) if a.target_ref}
    return targets <= pods


def _finish(dep: HelloDeployment, roll: KubeRollout, timeline: Timeline, timeout: float) -> KubeRollout:
    roll.completed, _ = poll(lambda: _rolled(dep, roll.target_image), bool, timeout=timeout, interval=0.2)
    roll.ended = time.time()
    roll.pods_after = [p for p in pod_views(dep.pods()) if not p.deleting]
    roll.samples = timeline.window(roll.started, roll.ended)
    # Old pods stay Terminating for their grace period (python as PID 1 ignores SIGTERM) and keep answering
    # until the service's endpoints drop them and kube-proxy (min sync 1 s) rewrites its rules: "every pod on
    # v2" is judged on the requests sent after that, not on the rollout's own completion.
    names = {p.name for p in roll.pods_after}
    settled, waited = poll(lambda: _endpoints_only(dep, names), bool, timeout=30, interval=0.2)
    roll.settled_s = round(waited, 1) if settled else None
    # kube-proxy may rewrite its rules later than its minimum sync on a busy node: the 20 answers judged are
    # those after the last one a departed pod gave, within a bound; past it, what was seen is judged as is.
    since = time.time() + KUBE_PROXY_SYNC_S

    def fresh() -> list[Reply]:
        seen = timeline.window(since, time.time())
        last_old = max((i for i, r in enumerate(seen) if r.answered_by and r.answered_by not in names), default=-1)
        return seen[last_old + 1:]

    after, _ = poll(fresh, lambda found: len(found) >= 20, timeout=10.0 + KUBE_PROXY_SYNC_S + AFTER_SETTLE_S, interval=0.2)
    roll.after = after[:20] if len(after) >= 20 else timeline.window(since, time.time())[:20]
    roll.traffic_errors = list(timeline.errors)
    return roll


def _describe(dep: HelloDeployment, kind: str, image: str) -> KubeRollout:
    d = dep.cluster.apps.read_namespaced_deployment(NAME, dep.namespace)
    strategy = dep.cluster.api.sanitize_for_serialization(d.spec.strategy) or {}
    probe = any(c.readiness_probe for c in d.spec.template.spec.containers)
    return KubeRollout(kind, image, time.time(), replicas=int(d.spec.replicas or 0), strategy=strategy, readiness_probe=probe)


def set_image(dep: HelloDeployment, image: str, timeline: Timeline, timeout: float = 180.0, progress: Progress = print) -> KubeRollout:
    """``kubectl set image deployment/hello-k8s <container>=simple-web:v2``, followed until every pod runs it."""
    d = dep.cluster.apps.read_namespaced_deployment(NAME, dep.namespace)
    container = d.spec.template.spec.containers[0].name
    roll = _describe(dep, "update", image)
    progress(f"orchlab: kubectl set image deployment/{NAME} {container}={image} ...")
    dep.cluster.apps.patch_namespaced_deployment(NAME, dep.namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": container, "image": image}]}}}})
    return _finish(dep, roll, timeline, timeout)


def undo(dep: HelloDeployment, timeline: Timeline, timeout: float = 180.0, progress: Progress = print) -> KubeRollout:
    """``kubectl rollout undo deployment/hello-k8s``: the previous ReplicaSet's pod template, put back."""
    d = dep.cluster.apps.read_namespaced_deployment(NAME, dep.namespace)
    owned = [rs for rs in dep.cluster.apps.list_namespaced_replica_set(dep.namespace).items
             if any(o.uid == d.metadata.uid for o in (rs.metadata.owner_references or []))]
    owned.sort(key=lambda rs: int((rs.metadata.annotations or {}).get(REVISION, "0")), reverse=True)
    if len(owned) < 2:
        raise ApiException(status=409, reason=f"no previous revision of {NAME} to undo to")
    template = dep.cluster.api.sanitize_for_serialization(owned[1].spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    image = template["spec"]["containers"][0]["image"]
    roll = _describe(dep, "rollback", image)
    progress(f"orchlab: kubectl rollout undo deployment/{NAME} → {image} ...")
    dep.cluster.apps.patch_namespaced_deployment(NAME, dep.namespace, {"spec": {"template": template}})
    return _finish(dep, roll, timeline, timeout)
