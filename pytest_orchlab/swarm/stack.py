"""Phase 2 실습 5: ``docker stack deploy -c docker-compose.yml webapp`` from the student's compose file."""

from __future__ import annotations

import copy
import subprocess
import tempfile
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
from pytest_orchlab.core.text import t
from pytest_orchlab.docker.container import port_in_use
from pytest_orchlab.docker.engine import RUN_LABEL, Engine, Progress
from pytest_orchlab.docker.sweep import run_alive
from pytest_orchlab.measure.waiting import poll
from pytest_orchlab.swarm.service import spec_summary, update_spec

STACK = LAB_STACK
SERVICE = f"{STACK}_{SERVICE_KEY}"
NAMESPACE_LABEL = "com.docker.stack.namespace"
COMPOSE_STEP = t("실습 4: 서비스 정의 파일 생성", "exercise 4: writing docker-compose.yml")


def read_compose(path: Path) -> dict[str, Any]:
    """The student's compose file as data, or one clear :class:`LabInputError`."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LabInputError(
            t(f"{path.name}{where} 을(를) YAML로 읽을 수 없습니다: {problem}", f"{path.name}{where} is not valid YAML: {problem}"),
            t("표시된 줄 근처의 들여쓰기와 콜론을 확인하세요.", "check indentation and colons near that line."),
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict) or SERVICE_KEY not in doc["services"]:
        raise LabInputError(
            t(f"{path.name} 에 services.{SERVICE_KEY} 가 없습니다.", f"{path.name} has no services.{SERVICE_KEY}."),
            t(f"'{COMPOSE_STEP.ko}' 의 파일을 그대로 만드세요.", f"write the file as given in '{COMPOSE_STEP.en}'."),
        )
    return doc


def _as_dict(labels: Any) -> dict[str, str]:
    if isinstance(labels, list):
        return {str(item).partition("=")[0]: str(item).partition("=")[2] for item in labels}
    return {str(k): str(v) for k, v in (labels or {}).items()}


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


def prepare_compose(doc: dict[str, Any], images: dict[str, str], labels: dict[str, str],
                    published: dict[int, int] | None = None) -> dict[str, Any]:
    """A copy of the student's compose for deployment: our image tags, our labels, attachable networks.

    Nothing that changes the experiment: images are the ones built from the student's folder, labels
    let the run find and remove what it made, and ``attachable`` lets the in-network probe join. One of
    several runs on one engine also moves the published ports it was given (``published``).
    """
    out = copy.deepcopy(doc)
    uses_default = False
    for svc in out["services"].values():
        if "ports" in svc:
            svc["ports"] = remap_published(svc["ports"], published or {})
        if svc.get("image") in images:
            svc["image"] = images[svc["image"]]
        svc["labels"] = {**_as_dict(svc.get("labels")), **labels}
        deploy = svc.setdefault("deploy", {}) or {}
        svc["deploy"] = deploy
        deploy["labels"] = {**_as_dict(deploy.get("labels")), **labels}
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
    return out


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

    def _free_swarm_port(self) -> int:
        """A published port no service of this swarm uses, stable per instance (one of several runs at once)."""
        used = {int(p.get("PublishedPort", 0)) for svc in self.engine.client.services.list()
                for p in (svc.attrs.get("Endpoint", {}).get("Ports") or [])}
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
        if self.names.instance:
            self.published = {LAB_PORT: self._free_swarm_port()}
        doc = prepare_compose(read_compose(self.lab.compose_file), self.images, self.engine.labels, self.published)
        try:
            with tempfile.TemporaryDirectory(prefix="orchlab-stack-") as tmp:
                compose = Path(tmp) / "docker-compose.yml"
                compose.write_text(yaml.safe_dump(doc, sort_keys=False))
                self.progress(f"orchlab: docker stack deploy -c {self.lab.compose_file} {self.name} ...")
                done = subprocess.run(
                    self.engine.cli("stack", "deploy", "--resolve-image", "never", "-c", str(compose), self.name),
                    capture_output=True, text=True, timeout=120, check=False,
                )
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
