"""Phase 2 실습 5: ``docker stack deploy -c docker-compose.yml webapp`` from the student's compose file."""

from __future__ import annotations

import copy
import shutil
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import docker.errors
import yaml
from docker.models.services import Service

from pytest_orchlab.core.errors import LabInputError, NotGradable
from pytest_orchlab.core.labdir import LabFolder
from pytest_orchlab.core.names import LAB_PORT, LAB_STACK, SERVICE_KEY, LabNames
from pytest_orchlab.core.progress import Progress
from pytest_orchlab.core.runs import run_alive, scratch
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.container import port_in_use
from pytest_orchlab.docker.engine import RUN_LABEL, Engine
from pytest_orchlab.measure.waiting import poll
from pytest_orchlab.submission.interpolate import escape, resolve
from pytest_orchlab.submission.policy import compose_refusals
from pytest_orchlab.submission.refusals import Refusal, refused
from pytest_orchlab.submission.snapshot import Caps
from pytest_orchlab.submission.textfile import decode
from pytest_orchlab.submission.yamldoc import load
from pytest_orchlab.swarm.service import spec_summary, update_spec

STACK = LAB_STACK
SERVICE = f"{STACK}_{SERVICE_KEY}"
NAMESPACE_LABEL = "com.docker.stack.namespace"
COMPOSE_STEP = t("실습 4: 서비스 정의 파일 생성", "exercise 4: writing docker-compose.yml")


TASK_MEMORY, TASK_PIDS = "512M", 512  # per task: a fork bomb or a memory hog fails its own tasks, not the machine


def read_compose(path: Path, where: str | None = None) -> dict[str, Any]:
    """The student's compose file as data, checked: one clear :class:`LabInputError` naming every problem.

    ``path`` is the gate's snapshot of the file. Read bounded and as UTF-8 (a BOM and CRLF are fine),
    interpolated against an empty environment, and held against the lab's policy before anything is deployed.
    """

    where = where or path.name
    data = path.read_bytes()[:Caps().parsed_bytes + 1]
    if len(data) > Caps().parsed_bytes:
        cap = Caps().parsed_bytes // 1024
        raise refused([Refusal(where, t(f"파일이 {cap} KB 보다 큽니다.", f"is bigger than {cap} KB, the cap for a file the lab parses."))], COMPOSE_STEP)
    text = decode(data, where)
    docs = load(text, where) if isinstance(text, str) else text
    if isinstance(docs, Refusal):
        raise refused([docs], COMPOSE_STEP, docs.why if "UTF-8" in docs.why.en else t("표시된 줄 근처의 들여쓰기와 콜론을 확인하세요.",
                                                                                          "check indentation and colons near that line."))
    doc = docs[0].data if docs else None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict) or SERVICE_KEY not in doc["services"]:
        raise LabInputError(
            t(f"{where} 에 services.{SERVICE_KEY} 가 없습니다.", f"{where} has no services.{SERVICE_KEY}."),
            t(f"'{COMPOSE_STEP.ko}' 의 파일을 그대로 만드세요.", f"write the file as given in '{COMPOSE_STEP.en}'."),
        )
    empty = [str(name) for name, svc in doc["services"].items() if not isinstance(svc, dict)]
    if empty:
        raise LabInputError(t(f"{where} 의 services.{empty[0]} 가 비어 있습니다 (image, ports, deploy 가 필요).",
                              f"{where}: services.{empty[0]} is empty (it needs image, ports and deploy)."),
                            t(f"'{COMPOSE_STEP.ko}' 의 파일을 그대로 만드세요.", f"write the file as given in '{COMPOSE_STEP.en}'."))
    resolved, problems = resolve(docs[0], where)
    problems += compose_refusals(resolved, docs[0], where)
    if problems:
        raise refused(problems, COMPOSE_STEP, t("실습의 docker-compose.yml 에는 이미지, 포트, replicas, update_config, restart_policy, "
                                                "healthcheck, overlay 네트워크만 있으면 됩니다.",
                                                "the lab's docker-compose.yml needs only its image, ports, replicas, update_config, "
                                                "restart_policy, a healthcheck and an overlay network."))
    return dict(resolved)


def _as_dict(labels: Any) -> dict[str, str]:
    if isinstance(labels, list):
        return {str(item).partition("=")[0]: str(item).partition("=")[2] for item in labels}
    return {str(k): str(v) for k, v in (labels or {}).items()}


def published_ports(doc: dict[str, Any]) -> list[int]:
    """Every host port the compose file publishes (short or long syntax), in order."""
    found: list[int] = []
    for svc in doc.get("services", {}).values():
        for entry in svc.get("ports") or [] if isinstance(svc, dict) and isinstance(svc.get("ports"), list) else []:
            if isinstance(entry, dict) and str(entry.get("published", "")).isdigit():
                found.append(int(entry["published"]))
            elif isinstance(entry, (str, int)):
                parts = str(entry).split("/")[0].split(":")
                if len(parts) >= 2 and parts[-2].isdigit():
                    found.append(int(parts[-2]))
    return list(dict.fromkeys(found))


def remap_published(ports: Any, remap: dict[int, int]) -> Any:
    """Compose ``ports`` with published ports moved (``"8080:5000"`` → ``"20123:5000"``), short or long syntax."""
    if not remap or not isinstance(ports, list):
        return ports
    out: list[Any] = []
    for entry in ports:
        if isinstance(entry, dict) and str(entry.get("published", "")).isdigit() and int(entry["published"]) in remap:
            entry = {**entry, "published": remap[int(entry["published"])]}
        elif isinstance(entry, (str, int)):
            parts = str(entry).split(":")
            if len(parts) >= 2 and parts[-2].isdigit() and int(parts[-2]) in remap:
                parts[-2] = str(remap[int(parts[-2])])
                entry = ":".join(parts)
        out.append(entry)
    return out


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}


def _bytes(value: Any) -> int | None:
    """``512M``, ``1g``, ``100000`` as bytes (compose's byte values), or None."""
    text = str(value).strip().lower()
    number = text.rstrip("bkmg")
    try:
        return int(float(number) * _UNITS[text[len(number):]])
    except (ValueError, KeyError):
        return None


def _limits(svc: dict[str, Any], with_pids: bool) -> None:
    """``deploy.resources.limits``: the student's memory and pids if lower, else ours; CPU left as written (Phase 1's
    ceiling depends on it, and the lab sets none)."""
    deploy = svc["deploy"]
    resources = deploy.get("resources") if isinstance(deploy.get("resources"), dict) else {}
    limits = dict(resources.get("limits") or {})
    theirs = _bytes(limits["memory"]) if "memory" in limits else None
    if "memory" not in limits or (theirs is not None and not 0 < theirs <= (_bytes(TASK_MEMORY) or 0)):
        limits["memory"] = TASK_MEMORY  # an unreadable value is the CLI's to reject, as it would for the student
    if with_pids:
        pids = limits.get("pids")
        limits["pids"] = min(pids, TASK_PIDS) if isinstance(pids, int) and pids > 0 else TASK_PIDS
    deploy["resources"] = {**resources, "limits": limits}


def _environment(env: Any) -> Any:
    """Compose's ``environment`` without bare names: ``- NAME`` would take NAME from the deploying CLI's environment."""
    if isinstance(env, list):
        return [item for item in env if "=" in str(item)]
    if isinstance(env, dict):
        return {k: v for k, v in env.items() if v is not None}
    return env


def prepare_compose(doc: dict[str, Any], images: dict[str, str], labels: dict[str, str],
                    published: dict[int, int] | None = None) -> dict[str, Any]:
    """A copy of the student's (checked, interpolated) compose for deployment.

    Nothing that changes the experiment: images are the ones built from the student's folder, labels
    let the run find and remove what it made, ``attachable`` lets the in-network probe join, each task gets
    memory and pids limits (:data:`TASK_MEMORY`, :data:`TASK_PIDS`; a ``version`` 3.x below 3.9 is raised to 3.9, the first whose
    schema has ``pids``), and every ``$`` is escaped so that the CLI interpolates nothing. One of several runs on
    one engine also moves the published ports it was given (``published``).
    """

    out = copy.deepcopy(doc)
    version = str(out.get("version", "3.9"))
    with_pids = version.startswith("3")
    if with_pids and "version" in out:
        major, _, minor = version.partition(".")
        if major == "3" and (not minor.isdigit() or int(minor) < 9):
            out["version"] = "3.9"
    uses_default = False
    for svc in out["services"].values():
        if "ports" in svc:
            svc["ports"] = remap_published(svc["ports"], published or {})
        if svc.get("image") in images:
            svc["image"] = images[svc["image"]]
        if "environment" in svc:
            svc["environment"] = _environment(svc["environment"])
        svc["labels"] = {**_as_dict(svc.get("labels")), **labels}
        deploy = svc.setdefault("deploy", {}) or {}
        svc["deploy"] = deploy
        deploy["labels"] = {**_as_dict(deploy.get("labels")), **labels}
        _limits(svc, with_pids)
        uses_default |= not svc.get("networks")
    networks = out.get("networks") or {}
    if uses_default:
        networks.setdefault("default", {})
    for name, net in list(networks.items()):
        net = dict(net or {})
        if not net.get("external"):
            net["labels"] = {**_as_dict(net.get("labels")), **labels}
            if net.get("driver", "overlay") == "overlay":
                net["attachable"] = True
        networks[name] = net
    if networks:
        out["networks"] = networks
    for section in ("volumes", "secrets", "configs"):  # the stack's own: labelled, so that the sweep removes them
        entries = out.get(section)
        if isinstance(entries, dict):
            out[section] = {name: {**dict(spec or {}), "labels": {**_as_dict((spec or {}).get("labels")), **labels}}
                            for name, spec in entries.items()}
    return dict(escape(out))


@dataclass
class Stack:
    """The lab's stack ``webapp``: deployed from the compose file, or the student's own running one."""

    engine: Engine
    lab: LabFolder
    images: dict[str, str]
    progress: Progress = print
    names: LabNames = field(default_factory=LabNames)
    adopted: bool = False
    published: dict[int, int] = field(default_factory=dict)  # the lab's port -> where this run published it
    _restore: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.names.stack

    @property
    def lab_port(self) -> int:
        """Where the lab's ``localhost:8080`` is for this run."""
        return self.published.get(LAB_PORT, LAB_PORT)

    def _own_services(self) -> list[Service]:
        return list(self.engine.client.services.list(filters={"label": f"{NAMESPACE_LABEL}={self.name}"}))

    def _free_swarm_port(self, taken: set[int] | None = None) -> int:
        """A published port no service of this swarm uses, stable per instance (one of several runs at once)."""
        used = {int(p.get("PublishedPort", 0)) for svc in self.engine.client.services.list()
                for p in (svc.attrs.get("Endpoint", {}).get("Ports") or [])} | (taken or set())
        start = 20000 + zlib.crc32(self.name.encode()) % 9000
        return next(port for port in range(start, start + 1000) if port not in used and not port_in_use(port))

    def __enter__(self) -> Stack:
        services = self._own_services()
        busy = [s for s in services if RUN_LABEL in (labels := s.attrs["Spec"].get("Labels") or {}) and run_alive(labels[RUN_LABEL])
                and labels[RUN_LABEL] != self.engine.run_id]
        if busy:
            raise NotGradable(
                t(f"다른 orchlab 실행({busy[0].attrs['Spec']['Labels'][RUN_LABEL]})이 '{self.name}' 스택을 쓰고 있습니다.",
                  f"Another orchlab run ({busy[0].attrs['Spec']['Labels'][RUN_LABEL]}) is using the '{self.name}' stack right now."),
                t("그 실행이 끝난 뒤 다시 실행하세요.", "run again once it has finished."),
            )
        existing = [s for s in services if RUN_LABEL not in (s.attrs["Spec"].get("Labels") or {})]
        if existing and self.names.instance:
            # A graded run (orchlab grade) never adopts what it did not make: its names are its own.
            raise NotGradable(t(f"orchlab 이 만들지 않은 '{self.name}' 스택이 이미 있습니다: 채점 실행은 그것을 쓰지 않습니다.",
                                f"A stack '{self.name}' that orchlab did not make already exists: a graded run never uses it."),
                              t(f"`docker stack rm {self.name}` 후 다시 채점하세요.", f"remove it with `docker stack rm {self.name}` and grade again."))
        if existing:
            # The student's own stack: check it as it runs, and put back what the experiments change.
            self.adopted = True
            for svc in existing:
                spec = svc.attrs["Spec"]
                self._restore[svc.name] = {
                    "image": spec["TaskTemplate"]["ContainerSpec"]["Image"],
                    "replicas": spec.get("Mode", {}).get("Replicated", {}).get("Replicas"),
                }
            self.progress(f"orchlab: checking your running stack '{self.name}' (it will be put back as found)")
            return self
        self.lab.require(self.lab.compose_file, step=COMPOSE_STEP)
        checked = read_compose(self.lab.compose_file, self.lab.relative(self.lab.compose_file))
        if self.names.instance:
            # One of several runs on one engine: every port the file publishes moves to a free one (the verdicts judge
            # what the student wrote), so no run's stack takes a port of the machine's or of another run.
            taken: set[int] = set()
            for port in published_ports(checked):
                self.published[port] = self._free_swarm_port(taken)
                taken.add(self.published[port])
        doc = prepare_compose(checked, self.images, self.engine.labels, self.published)
        try:
            work = scratch(self.engine.run_id, "stack-")
            try:
                compose = work / "docker-compose.yml"
                compose.write_text(yaml.safe_dump(doc, sort_keys=False))
                self.progress(f"orchlab: docker stack deploy -c {self.lab.relative(self.lab.compose_file)} {self.name} ...")
                done = subprocess.run(
                    self.engine.cli("stack", "deploy", "--resolve-image", "never", "-c", str(compose), self.name),
                    capture_output=True, text=True, timeout=120, check=False, env=self.engine.cli_env(work),
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if done.returncode != 0:
                why = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
                raise LabInputError(
                    t(f"docker stack deploy 가 실패했습니다: {why}", f"docker stack deploy failed: {why}"),
                    t("오류가 가리키는 docker-compose.yml 항목을 고치세요.", "fix the docker-compose.yml entry the error names."),
                )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def service(self) -> Service:
        return self.engine.client.services.get(self.names.service)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        client = self.engine.client
        if self.adopted:
            for name, was in self._restore.items():
                def put_back(spec: dict[str, Any], was: dict[str, Any] = was) -> None:
                    spec["TaskTemplate"]["ContainerSpec"]["Image"] = was["image"]
                    if was["replicas"] is not None:
                        spec["Mode"]["Replicated"]["Replicas"] = was["replicas"]
                try:
                    svc = client.services.get(name)
                    if spec_summary(svc)["image"] != was["image"].split("@")[0] or spec_summary(svc)["replicas"] != was["replicas"]:
                        update_spec(self.engine, svc, put_back)
                except docker.errors.APIError as exc:
                    self.progress(f"orchlab: could not put {name} back ({exc}); its image was {was['image']}, replicas {was['replicas']}")
            return
        remove_stack(self.engine, self.name)


def remove_stack(engine: Engine, stack: str = STACK) -> None:
    """Remove this run's stack services, their task containers at once, then its networks."""
    client = engine.client
    mine = {"label": [f"{NAMESPACE_LABEL}={stack}", f"{RUN_LABEL}={engine.run_id}"]}
    for svc in client.services.list(filters=mine):
        try:
            svc.remove()
        except docker.errors.NotFound:
            pass
    # Task containers would take the 10 s stop grace period each (python as PID 1 ignores SIGTERM).
    for ctr in client.containers.list(all=True, filters=mine):
        try:
            ctr.remove(force=True)
        except docker.errors.APIError:
            pass

    def networks_gone() -> bool:
        for net in client.networks.list(filters=mine):
            try:
                net.remove()
            except docker.errors.APIError:
                return False
        return True

    poll(networks_gone, bool, timeout=30, interval=0.5)
