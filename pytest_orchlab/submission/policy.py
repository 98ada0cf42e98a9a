"""What the lab's compose file and manifests may ask for: pure functions from a parsed document to refusals.

The lab needs a service or deployment of its own image, its ports, replicas, update and restart policies,
a healthcheck or readinessProbe, an overlay network. Nothing here needs the host: a refusal names the key
and the line and says the lab needs none of it. Checked on the snapshot before anything is deployed, the
same in a student's run and in ``orchlab grade``.
"""

from __future__ import annotations

from typing import Any

from pytest_orchlab.core.text import t
from pytest_orchlab.submission.refusals import NEEDS_NONE, Refusal
from pytest_orchlab.submission.yamldoc import Document

MAX_REPLICAS = 10  # per service or deployment; the lab scales to 5
SOCKETS = ("docker.sock", "docker.pid", "containerd.sock")
# Service keys that reach the host or the engine beyond the lab's containers (compose spec names).
SERVICE_KEYS = {
    "env_file": "reads files of the grader's machine",
    "cap_add": "adds Linux capabilities",
    "devices": "maps host devices",
    "device_cgroup_rules": "allows host devices",
    "privileged": "runs with every privilege",
    "security_opt": "changes the container's confinement",
    "sysctls": "changes kernel settings",
    "network_mode": "changes the container's network namespace",
    "pid": "shares a process namespace",
    "ipc": "shares an IPC namespace",
    "userns_mode": "leaves the user namespace",
    "cgroup_parent": "moves the container's cgroup",
    "cgroup": "changes the cgroup namespace",
    "volumes_from": "mounts another container's volumes",
    "credential_spec": "reads a credential spec",
    "extends": "reads another file",
    "oom_kill_disable": "disables the OOM killer",
    "oom_score_adj": "changes the OOM score",
    "isolation": "changes the isolation technology",
    "runtime": "changes the container runtime",
}
TOP_EXTERNAL = ("networks", "volumes", "secrets", "configs")
SECRET_SOURCES = ("file", "environment", "external", "name")
VOLUME_KEYS = ("external", "name", "driver", "driver_opts")
NETWORK_KEYS = ("external", "name", "driver_opts", "ipam")


def _refusal(where: str, doc: Document, path: tuple[str | int, ...], what: str) -> Refusal:
    key = ".".join(map(str, path))
    why = t(f"은(는) {what} 을(를) 요청합니다: {NEEDS_NONE.ko}", f"asks for {what}: {NEEDS_NONE.en}")
    return Refusal(where, why, doc.line(*path), key)


def _map(parent: Any, key: str) -> dict[str, Any]:
    """``parent[key]`` when both are mappings, else an empty one: a document of odd shape is read, never a crash."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _list(parent: Any, key: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, list) else []


def _count(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _mount_refusal(mount: Any) -> str | None:
    """Why a service's ``volumes`` entry is refused: a bind mount, a socket, a host path; None for a named volume or tmpfs."""
    if isinstance(mount, dict):
        kind, source = str(mount.get("type") or "volume"), str(mount.get("source") or "")
        target = str(mount.get("target") or "")
        if kind in ("bind", "npipe", "cluster"):
            return f"a {kind} mount of the grader's machine ({source or '?'})"
        if any(s in source or s in target for s in SOCKETS):
            return "a mount of the Docker socket"
        if kind == "volume" and (source.startswith(("/", ".", "~")) or "/" in source):
            return f"a mount of the host path {source}"
        return None
    text = str(mount)
    parts = text.split(":")
    if any(s in text for s in SOCKETS):
        return "a mount of the Docker socket"
    if len(parts) >= 2 and (parts[0].startswith(("/", ".", "~")) or "/" in parts[0] or "\\" in parts[0]):
        return f"a bind mount of the host path {parts[0]}"
    return None


def compose_refusals(data: Any, doc: Document, where: str) -> list[Refusal]:
    """Everything of a (interpolated) compose document the lab does not need and a grader must not run."""
    out: list[Refusal] = []
    if not isinstance(data, dict):
        return out  # the shape is the reader's to report (services.web missing)
    for section in TOP_EXTERNAL:
        entries = data.get(section)
        for name, spec in (entries.items() if isinstance(entries, dict) else ()):
            if not isinstance(spec, dict):
                continue
            keys = SECRET_SOURCES if section in ("secrets", "configs") else VOLUME_KEYS if section == "volumes" else NETWORK_KEYS
            for key in keys:
                if key in spec and spec[key] not in (None, False, {}):
                    out.append(_refusal(where, doc, (section, str(name), key), f"{key} ({_top_why(section, key)})"))
            if section == "networks" and spec.get("driver") not in (None, "overlay"):
                out.append(_refusal(where, doc, (section, str(name), "driver"),
                                    f"the network driver {spec.get('driver')} (the lab's network is an overlay)"))
    services = data.get("services")
    for name, svc in (services.items() if isinstance(services, dict) else ()):
        if isinstance(svc, dict):
            out += _service_refusals(str(name), svc, doc, where)
    return out


def _top_why(section: str, key: str) -> str:
    if key == "external" or key == "name":
        return f"it uses a {section[:-1]} that exists outside the stack"
    if key in ("file", "environment"):
        return f"it reads a {key} of the grader's machine"
    return "a driver setting of the grader's machine"


def _service_refusals(name: str, svc: dict[str, Any], doc: Document, where: str) -> list[Refusal]:
    out: list[Refusal] = []
    base = ("services", name)
    for key, why in SERVICE_KEYS.items():
        if key in svc and svc[key] not in (None, False, [], {}, "") and not (key == "ipc" and svc[key] in ("private", "shareable")):
            out.append(_refusal(where, doc, (*base, key), f"{key} ({why})"))
    for n, mount in enumerate(_list(svc, "volumes")):
        mounted = _mount_refusal(mount)
        if mounted:
            out.append(_refusal(where, doc, (*base, "volumes", n), mounted))
    deploy = _map(svc, "deploy")
    replicas = _count(deploy.get("replicas", 1))
    if replicas is not None and replicas > MAX_REPLICAS:
        out.append(Refusal(where, t(f"의 replicas {replicas} 는 너무 많습니다 (최대 {MAX_REPLICAS}; 실습은 3 에서 5 로 늘립니다).",
                                    f"asks for {replicas} replicas, more than {MAX_REPLICAS} (the lab runs 3, then 5)."),
                           doc.line(*base, "deploy", "replicas"), f"services.{name}.deploy.replicas"))
    reservations = _map(_map(deploy, "resources"), "reservations")
    if reservations.get("devices") or reservations.get("generic_resources"):
        out.append(_refusal(where, doc, (*base, "deploy", "resources", "reservations"),
                            "host devices"))
    return out


# --- Kubernetes manifests -----------------------------------------------------------------------

KINDS = {"Deployment": "apps/v1", "Service": "v1"}
POD_FLAGS = ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace")
POD_KEYS = {"priorityClassName": "changes the pod's priority", "runtimeClassName": "changes the runtime",
            "serviceAccountName": "runs as another service account", "serviceAccount": "runs as another service account",
            "nodeName": "binds the pod to a node itself", "overhead": "changes the pod's overhead"}
SERVICE_TYPES = ("ClusterIP", "NodePort")


def manifest_refusals(docs: list[tuple[str, Document]], lab_images: set[str]) -> list[Refusal]:
    """Each manifest document (``(where, doc)``): only Deployments of the lab's image (any tag of a repository in
    ``lab_images``: a wrong tag is the student's mistake, graded as an image the cluster cannot get) and Services,
    nothing of the host."""
    out: list[Refusal] = []
    for where, doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            out.append(Refusal(where, t("는 Kubernetes 객체(매핑)가 아닙니다.", "is not a Kubernetes object (a mapping)."), doc.line()))
            continue
        kind = data.get("kind")
        if kind not in KINDS:
            out.append(Refusal(where, t(f"의 {kind} 는 다루지 않습니다 (Deployment, Service 만).", f"holds a {kind}; only Deployment and Service are applied."),
                               doc.line("kind"), "kind"))
            continue
        meta = _map(data, "metadata")
        if meta.get("namespace") not in (None, "", "default"):
            out.append(_refusal(where, doc, ("metadata", "namespace"), f"the namespace {meta.get('namespace')} (the lab uses its own)"))
        spec = _map(data, "spec")
        out += _deployment(where, doc, spec, lab_images) if kind == "Deployment" else _service(where, doc, spec)
    return out


def _deployment(where: str, doc: Document, spec: dict[str, Any], lab_images: set[str]) -> list[Refusal]:
    out: list[Refusal] = []
    replicas = _count(spec.get("replicas", 1))
    if replicas is not None and replicas > MAX_REPLICAS:
        out.append(Refusal(where, t(f"의 replicas {replicas} 는 너무 많습니다 (최대 {MAX_REPLICAS}).",
                                    f"asks for {replicas} replicas, more than {MAX_REPLICAS}."),
                           doc.line("spec", "replicas"), "spec.replicas"))
    template = _map(spec, "template")
    labels = _map(_map(template, "metadata"), "labels")
    selector = _map(spec, "selector")
    match = _map(selector, "matchLabels")
    if set(selector) - {"matchLabels"} or not match or any(labels.get(k) != v for k, v in match.items()):
        out.append(Refusal(where, t("의 selector 는 템플릿의 레이블을 고르는 matchLabels 여야 합니다 (matchExpressions 는 받지 않습니다).",
                                    "has a selector that is not plain matchLabels carried by the template's labels (no matchExpressions)."),
                           doc.line("spec", "selector"), "spec.selector"))
    pod = _map(template, "spec")
    base: tuple[str | int, ...] = ("spec", "template", "spec")
    for flag in POD_FLAGS:
        if pod.get(flag):
            out.append(_refusal(where, doc, (*base, flag), f"{flag} (it shares the node's namespaces)"))
    for key, why in POD_KEYS.items():
        if pod.get(key) not in (None, "", "default"):
            out.append(_refusal(where, doc, (*base, key), f"{key} ({why})"))
    security = _map(pod, "securityContext")
    if security.get("sysctls"):
        out.append(_refusal(where, doc, (*base, "securityContext", "sysctls"), "kernel settings (sysctls)"))
    volumes = _list(pod, "volumes")
    for n, volume in enumerate(volumes):
        kinds = set(volume) - {"name"} if isinstance(volume, dict) else {"?"}
        if kinds - {"emptyDir"}:
            out.append(_refusal(where, doc, (*base, "volumes", n), f"a volume of kind {', '.join(sorted(map(str, kinds)))} "
                                "(only emptyDir: hostPath and the cluster's own objects are out of reach)"))
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for n, ctr in enumerate(_list(pod, group)):
            if isinstance(ctr, dict):
                out += _container(where, doc, (*base, group, n), ctr, lab_images)
    return out


def _container(where: str, doc: Document, path: tuple[str | int, ...], ctr: dict[str, Any], lab_images: set[str]) -> list[Refusal]:
    out: list[Refusal] = []
    if str(ctr.get("image") or "").split("@")[0].split(":")[0] not in lab_images:
        out.append(Refusal(where, t(f"의 이미지 {ctr.get('image')} 는 실습 이미지가 아닙니다 ({', '.join(sorted(lab_images))}).",
                                    f"runs the image {ctr.get('image')}, not the lab's ({', '.join(sorted(lab_images))})."),
                           doc.line(*path, "image"), ".".join(map(str, (*path, "image")))))
    security = _map(ctr, "securityContext")
    if security.get("privileged"):
        out.append(_refusal(where, doc, (*path, "securityContext", "privileged"), "a privileged container"))
    capabilities = _map(security, "capabilities")
    if capabilities.get("add"):
        out.append(_refusal(where, doc, (*path, "securityContext", "capabilities", "add"), "added capabilities"))
    for n, port in enumerate(_list(ctr, "ports")):
        if isinstance(port, dict) and port.get("hostPort"):
            out.append(_refusal(where, doc, (*path, "ports", n, "hostPort"), "a host port (it binds a port of the node)"))
    for key in ("env", "envFrom"):
        for n, item in enumerate(_list(ctr, key)):
            text = str(item)
            if "secretKeyRef" in text or "configMapKeyRef" in text or "secretRef" in text or "configMapRef" in text:
                out.append(_refusal(where, doc, (*path, key, n), "the cluster's secrets or config maps"))
    return out


def _service(where: str, doc: Document, spec: dict[str, Any]) -> list[Refusal]:
    out: list[Refusal] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        out.append(_refusal(where, doc, ("spec", "type"), f"a service of type {kind} (the lab exposes a NodePort)"))
    for key in ("externalIPs", "loadBalancerIP", "externalName", "loadBalancerSourceRanges"):
        if spec.get(key):
            out.append(_refusal(where, doc, ("spec", key), f"{key} (it reaches beyond the cluster)"))
    return out
