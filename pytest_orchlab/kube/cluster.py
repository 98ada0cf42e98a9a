"""``orchlab cluster up|down|status``: a local single-node Kubernetes (k3s) on this machine's Docker engine.

Offline: the k3s binary comes from ``--k3s``/``ORCHLAB_K3S``/``PATH`` (an ``.xz`` is unpacked once),
the pod sandbox image is compiled here from a few lines of C, the CNI config is our own, and the
kubelet runs its pods on the host's Docker engine, so an image built with ``docker build`` is at once
usable by pods. Everything the cluster makes lives under one folder of ours and is removed by ``down``:
pod containers, the ``cni0`` bridge, the ``KUBE-*``/``CNI-*`` iptables chains, mounts and the data.
"""

from __future__ import annotations

import json
import lzma
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pytest_orchlab.core.errors import NotGradable
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.runs import cluster_home, kubeconfig_path
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.engine import apt_install, connect
from pytest_orchlab.measure.waiting import poll

PAUSE_IMAGE = "orchlab/pause:3.1"
NODE_NAME = "orchlab"
CNI_NETWORK = "orchlab-pods"
POD_LABEL = "io.kubernetes.docker.type"  # what the kubelet's dockershim puts on every pod container
PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGTERM, stop); signal(SIGINT, stop); signal(SIGCHLD, reap);
    for (;;) pause();
}
"""


home = cluster_home

def _cni_conflist() -> str:
    return json.dumps({
        "cniVersion": "0.3.1", "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.42.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def find_k3s(explicit: str | None = None, progress: Progress = print) -> Path:
    """The k3s binary: ``explicit``, else ``ORCHLAB_K3S``, else ``k3s`` on PATH; an ``.xz`` is unpacked once."""
    given = explicit or os.environ.get("ORCHLAB_K3S") or shutil.which("k3s")
    if not given or not Path(given).exists():
        raise NotGradable(
            t(f"k3s 실행 파일을 찾지 못했습니다 ({given or 'k3s 가 PATH 에 없음'}).", f"No k3s binary found ({given or 'no k3s on PATH'})."),
            t("`orchlab cluster up --k3s PATH` 로 k3s(또는 k3s.xz)를 지정하거나 ORCHLAB_K3S 를 설정하세요.",
              "give it with `orchlab cluster up --k3s PATH` (a k3s binary or its .xz) or set ORCHLAB_K3S."),
        )
    source = Path(given).resolve()
    if source.suffix != ".xz":
        return source
    target = home() / "bin" / "k3s"
    stamp = target.with_suffix(".from")
    key = f"{source} {source.stat().st_size} {source.stat().st_mtime_ns}"
    if not target.exists() or not stamp.exists() or stamp.read_text() != key:
        progress(f"orchlab: unpacking {source} ...")
        target.parent.mkdir(parents=True, exist_ok=True)
        with lzma.open(source) as packed, open(target.with_suffix(".tmp"), "wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
        target.with_suffix(".tmp").chmod(0o755)
        target.with_suffix(".tmp").rename(target)
        stamp.write_text(key)
    return target


def _pid() -> int | None:
    pidfile = home() / "k3s.pid"
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text().strip() or 0)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"k3s" in cmdline and b"server" in cmdline else None


def _pause_image(progress: Progress) -> None:
    client = connect()
    if client.images.list(name=PAUSE_IMAGE):
        return
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        apt_install("gcc", "libc6-dev", progress=progress)
        gcc = "gcc"
    with tempfile.TemporaryDirectory(prefix="orchlab-pause-") as tmp:
        (Path(tmp) / "pause.c").write_text(PAUSE_C)
        subprocess.run([gcc, "-Os", "-static", "-o", str(Path(tmp) / "pause"), str(Path(tmp) / "pause.c")], check=True)
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "pause"], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        repo, tag = PAUSE_IMAGE.rsplit(":", 1)
        client.api.import_image_from_stream(tar.stdout, repository=repo, tag=tag,
                                            changes=['ENTRYPOINT ["/pause"]', "LABEL orchlab.cluster=sandbox"])
        tar.wait()


def _node_ready(kubeconfig: Path) -> bool:
    from pytest_orchlab.kube.connect import ready_nodes

    try:
        return bool(ready_nodes(str(kubeconfig)))
    except Exception:  # noqa: BLE001 - not up yet: the API server, the kubeconfig or the node are still coming
        return False


def up(k3s: str | None = None, progress: Progress = print, wait_s: float = 120.0) -> str:
    """Start the orchlab cluster (idempotent) and wait for its node to be Ready."""
    if _pid() is not None and _node_ready(kubeconfig_path()):
        return f"orchlab cluster already running\nkubeconfig: {kubeconfig_path()}"
    if not (Path("/etc/debian_version").exists() and os.geteuid() == 0):
        raise NotGradable(t("orchlab cluster 는 Debian 의 root 에서만 시작합니다.", "orchlab cluster starts only on Debian as root."),
                          t("minikube start 나 kind create cluster 를 쓰세요.", "use minikube start or kind create cluster instead."))
    binary = find_k3s(k3s, progress)
    if not Path("/usr/lib/cni/bridge").exists() or shutil.which("conntrack") is None:
        apt_install("containernetworking-plugins", "conntrack", "iptables", progress=progress)
    _pause_image(progress)
    root = home()
    (root / "cni").mkdir(parents=True, exist_ok=True)
    (root / "cni" / "10-bridge.conflist").write_text(_cni_conflist())
    # What was here before: `down` removes only the chains this cluster added (another Kubernetes has the same names).
    state = {"had_run_k3s": Path("/run/k3s").exists(), "chains_before": _kube_chains()}
    (root / "made.json").write_text(json.dumps(state))
    argv = [str(binary), "server", "--docker", "--data-dir", str(root / "data"),
            "--disable", "traefik,servicelb,metrics-server,local-storage,coredns",
            "--flannel-backend=none", "--disable-network-policy",
            "--kubelet-arg=cni-bin-dir=/usr/lib/cni", f"--kubelet-arg=cni-conf-dir={root / 'cni'}",
            f"--kubelet-arg=root-dir={root / 'kubelet'}",
            # Never delete a student's images to free disk (image GC), and evict nothing for disk pressure.
            "--kubelet-arg=image-gc-high-threshold=100", "--kubelet-arg=image-gc-low-threshold=99",
            "--kubelet-arg=eviction-hard=imagefs.available<1%,nodefs.available<1%",
            "--pause-image", PAUSE_IMAGE, "--node-name", NODE_NAME,
            "--write-kubeconfig", str(kubeconfig_path()), "--write-kubeconfig-mode", "600"]
    progress(f"orchlab: starting k3s ({binary}); log {root / 'k3s.log'} ...")
    with open(root / "k3s.log", "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (root / "k3s.pid").write_text(str(proc.pid))
    ready, waited = poll(lambda: proc.poll() is None and _node_ready(kubeconfig_path()), bool, timeout=wait_s, interval=1.0)
    if not ready:
        tail = (root / "k3s.log").read_text(errors="replace").splitlines()[-4:]
        down(progress)
        raise NotGradable(t(f"k3s 노드가 {wait_s:.0f}초 안에 Ready 가 되지 않았습니다: {' | '.join(tail)}",
                            f"The k3s node was not Ready within {wait_s:.0f} s: {' | '.join(tail)}"),
                          t(f"{root / 'k3s.log'} 를 보세요.", f"read {root / 'k3s.log'}."))
    return f"orchlab cluster up: node {NODE_NAME} Ready after {waited:.0f} s\nkubeconfig: {kubeconfig_path()}"


TABLES = ("filter", "nat", "mangle")


def _rules(table: str) -> list[str]:
    if shutil.which("iptables") is None:
        return []
    return subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=False).stdout.splitlines()


def _kube_chains() -> dict[str, list[str]]:
    """The KUBE-*/CNI-* chains of each table now."""
    return {table: [r.split()[1] for r in _rules(table) if r.startswith("-N ") and r.split()[1].startswith(("KUBE-", "CNI-"))] for table in TABLES}


def _iptables_cleanup(before: dict[str, list[str]]) -> list[str]:
    """Remove the KUBE-* (kube-proxy, kubelet) and CNI-* (portmap, bridge) chains this cluster added, and the jumps to them."""
    removed = []
    for table in TABLES:
        rules = _rules(table)
        ours = [r.split()[1] for r in rules if r.startswith("-N ") and r.split()[1].startswith(("KUBE-", "CNI-"))
                and r.split()[1] not in set(before.get(table, []))]
        for rule in rules:
            words = shlex.split(rule)
            if rule.startswith("-A ") and not words[1].startswith(("KUBE-", "CNI-")) and any(w in ours for w in words[2:]):
                subprocess.run(["iptables", "-w", "-t", table, "-D", *words[1:]], capture_output=True, check=False)
        for chain in ours:
            subprocess.run(["iptables", "-w", "-t", table, "-F", chain], capture_output=True, check=False)
        for chain in ours:
            if subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True, check=False).returncode == 0:
                removed.append(f"{table}/{chain}")
    return removed


def pod_containers(client: Any) -> list[str]:
    """The ids of this cluster's pod containers: sandboxes of its own pause image, and the containers in them.

    Another Kubernetes on this engine (Docker Desktop's, minikube's) labels its pods the same way but never runs
    ``orchlab/pause``, so nothing of it is picked.
    """
    found = client.api.containers(all=True, filters={"label": POD_LABEL})
    sandboxes = {c["Id"] for c in found if c.get("Image") == PAUSE_IMAGE or str(c.get("Image", "")).startswith(PAUSE_IMAGE + "@")}
    apps = [c["Id"] for c in found if (c.get("Labels") or {}).get("io.kubernetes.sandbox.id") in sandboxes]
    return [*apps, *sandboxes]


def down(progress: Progress = print) -> str:
    """Stop the orchlab cluster and remove everything it made, and nothing else."""
    root = home()
    done: list[str] = []
    pid = _pid()
    if pid is not None:
        progress("orchlab: stopping k3s ...")
        os.killpg(pid, signal.SIGTERM)
        stopped, _ = poll(lambda: _pid() is None, bool, timeout=20, interval=0.3)
        if not stopped:
            os.killpg(pid, signal.SIGKILL)
        done.append("k3s server")
    if not (root / "made.json").exists():
        # Only what `orchlab cluster up` made is removed: another Kubernetes on this machine is not ours to touch.
        return "orchlab cluster: not running, nothing to remove"
    try:
        client = connect()
        pods = pod_containers(client)
        for cid in pods:
            client.api.remove_container(cid, force=True)
        done.append(f"{len(pods)} pod containers")
        if client.images.list(name=PAUSE_IMAGE):
            client.images.remove(PAUSE_IMAGE, force=True)
    except NotGradable:
        done.append("(no Docker engine answered: pod containers not checked)")
    if subprocess.run(["ip", "link", "show", "cni0"], capture_output=True, check=False).returncode == 0:
        subprocess.run(["ip", "link", "delete", "cni0"], check=False)
        done.append("cni0")
    made = json.loads((root / "made.json").read_text())
    chains = _iptables_cleanup(made.get("chains_before", {}))
    if chains:
        done.append(f"{len(chains)} iptables chains")
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith((str(root), "/run/k3s"))]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    if not made.get("had_run_k3s", True):
        shutil.rmtree("/run/k3s", ignore_errors=True)
    shutil.rmtree(Path("/var/lib/cni/networks") / CNI_NETWORK, ignore_errors=True)
    for child in root.iterdir():
        if child.name == "bin":
            continue  # the unpacked binary is a cache, like the base image
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    done.append(str(root))
    return "orchlab cluster down: removed " + ", ".join(done)


def status() -> str:
    """One line on the cluster and the line ``kubeconfig: PATH``."""
    pid = _pid()
    if pid is None:
        return "orchlab cluster: not running"
    ready = _node_ready(kubeconfig_path())
    return f"orchlab cluster: running (pid {pid}), node {NODE_NAME} {'Ready' if ready else 'not Ready'}\nkubeconfig: {kubeconfig_path()}"


def running() -> bool:
    """True while the orchlab cluster's k3s server runs on this machine."""
    return _pid() is not None
