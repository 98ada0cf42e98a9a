"""Leave no trace: remove what a run (or a crashed one) labelled. Which runs are over is ``core.runs``'s word."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import docker
import docker.errors
import requests.exceptions

from pytest_orchlab.docker.engine import RUN_LABEL
from pytest_orchlab.measure.waiting import poll


@dataclass
class SweepResult:
    """What a sweep removed, and what it tried to remove and could not (with the engine's reason)."""

    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return self.removed + [f"could not remove {f}" for f in self.failed]


def sweep(client: docker.DockerClient, select: Callable[[str], bool]) -> SweepResult:
    """Remove every ``orchlab.run``-labelled service, secret, config, container, volume, network, image and swarm whose run id
    ``select`` picks.

    One try per kind of resource: a failure with one kind is reported and the others are still swept.
    Nothing without the label is ever looked at, so a student's own resources are safe.
    """
    result = SweepResult()
    flt = {"label": RUN_LABEL}

    def pick(labels: dict[str, str] | None) -> bool:
        return RUN_LABEL in (labels or {}) and select((labels or {})[RUN_LABEL])

    def gone(kind: str, name: str, action: Callable[[], object]) -> None:
        try:
            action()
            result.removed.append(f"{kind} {name}")
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            result.failed.append(f"{kind} {name}: {exc.explanation or exc}")

    def services() -> None:
        swarm = client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
            for svc in client.services.list(filters=flt):
                if pick(svc.attrs["Spec"].get("Labels")):
                    gone("service", svc.name, svc.remove)

    def stack_objects() -> None:
        # A stack's secrets and configs (the compose file's own, labelled like everything else): after its services.
        swarm = client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
            for kind, listing in (("secret", client.secrets), ("config", client.configs)):
                for obj in listing.list(filters=flt):
                    if pick(obj.attrs["Spec"].get("Labels")):
                        gone(kind, obj.name, obj.remove)

    def containers() -> None:
        for ctr in client.containers.list(all=True, filters=flt):
            if pick(ctr.labels):
                gone("container", ctr.name, functools.partial(ctr.remove, force=True, v=True))

    def volumes() -> None:
        for vol in client.volumes.list(filters=flt):
            if pick(vol.attrs.get("Labels")):
                gone("volume", vol.name, functools.partial(vol.remove, force=True))

    def networks() -> None:
        def left() -> list[object]:
            return [n for n in client.networks.list(filters=flt) if pick(n.attrs.get("Labels"))]

        def try_all() -> bool:
            for net in left():
                try:
                    net.remove()  # type: ignore[attr-defined]
                    result.removed.append(f"network {net.name}")  # type: ignore[attr-defined]
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError:
                    pass  # retried: an overlay network detaches from its task containers a moment after they go
            return not left()

        if not poll(try_all, bool, timeout=20, interval=0.5)[0]:
            result.failed += [f"network {n.name}: still in use after 20 s" for n in left()]  # type: ignore[attr-defined]

    def images() -> None:
        for img in client.images.list(filters=flt):
            if pick(img.labels):
                gone("image", img.short_id, functools.partial(client.images.remove, img.id, force=True))

    def swarm() -> None:
        info = client.info().get("Swarm", {})
        if info.get("LocalNodeState") == "active" and info.get("ControlAvailable"):
            labels = client.swarm.attrs.get("Spec", {}).get("Labels") or {}
            if pick(labels):
                gone("swarm", labels[RUN_LABEL], functools.partial(client.swarm.leave, force=True))

    for kind, step in (("services", services), ("secrets and configs", stack_objects), ("containers", containers), ("volumes", volumes), ("networks", networks),
                       ("images", images), ("swarm", swarm)):
        try:
            step()
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            result.failed.append(f"{kind}: {type(exc).__name__}: {exc}")
    return result


def leftovers(client: docker.DockerClient, run_id: str | None = None) -> list[str]:
    """What still carries this run's label (or any orchlab label): empty after a clean finish."""
    flt = {"label": f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
    found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    found += [f"image {i.short_id}" for i in client.images.list(filters=flt)]
    swarm = client.info().get("Swarm", {})
    if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
        found += [f"service {s.name}" for s in client.services.list(filters=flt)]
        labels = client.swarm.attrs.get("Spec", {}).get("Labels") or {}
        if RUN_LABEL in labels and (run_id is None or labels[RUN_LABEL] == run_id):
            found.append(f"swarm {labels[RUN_LABEL]}")
    return found
