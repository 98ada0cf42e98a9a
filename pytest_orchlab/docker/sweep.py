"""Leave no trace: which runs are alive, and removing what a run (or a crashed one) labelled.

A run is alive while it holds an exclusive lock on its own file in the state folder: the kernel drops
the lock when the process dies, whatever happened to it, so this survives reused PIDs and changing
hostnames in containers and CI. Where no lock file is to be seen (the run was on another machine or in
another container), the run id's own start time decides: a run older than :data:`MAX_RUN_AGE_S` is over.
"""

from __future__ import annotations

import calendar
import fcntl
import functools
import os
import pwd
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import docker
import docker.errors
import requests.exceptions

from pytest_orchlab.docker.engine import RUN_LABEL
from pytest_orchlab.measure.waiting import poll

MAX_RUN_AGE_S = 6 * 3600  # a whole lab (all phases) takes minutes; class grading gives each student a run of its own


def state_dir() -> Path:
    """Where run lock files live: ``ORCHLAB_STATE_DIR``, else ``$XDG_STATE_HOME/orchlab/runs`` (``~/.local/state``)."""
    if os.environ.get("ORCHLAB_STATE_DIR"):
        return Path(os.environ["ORCHLAB_STATE_DIR"])
    # The account's home from the password database, not $HOME: a test harness that moves $HOME (pytester)
    # must still see the same runs and the same orchlab cluster.
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".local", "state")
    return Path(base) / "orchlab" / "runs"


class RunLock:
    """Held for the whole run: ``with RunLock(run_id):``. Its file is removed on a clean exit."""

    def __init__(self, run_id: str) -> None:
        self.path = state_dir() / f"{run_id}.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, f"pid {os.getpid()}\n".encode())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the lock
            self._fd = None


class TurnLock:
    """What must not overlap on this machine (``cpu``: a CPU measurement; ``kube``: Phase 3; ``background``:
    stacks that keep the machine busy between experiments, held shared by runs whose tasks run a healthcheck
    and alone by a CPU measurement), across runs.

    A blocking ``flock`` on a shared file in the state folder, so several runs of one teacher's
    ``orchlab grade --jobs`` queue here and a dead run's turn ends with its process. ``shared=True`` is a
    reader: any number run together, and none while an exclusive holder runs. Exclusive holders go first:
    one that waits takes a gate file that new readers must pass, so a steady stream of readers (other
    students' Phase 2 experiments) cannot starve it. A process's own reader gives way to its own writer.
    """

    _readers: ClassVar[dict[Path, TurnLock]] = {}  # this process's shared holders, by lock file

    def __init__(self, what: str, progress: Callable[[str], None] = print, *, shared: bool = False, waiting: str = "") -> None:
        self.path = state_dir().parent / f"turn-{what}.lock"
        self.gate = self.path.with_name(f"turn-{what}.gate")
        self.what, self.progress, self.shared = what, progress, shared
        self.waiting = waiting or f"orchlab: waiting for other runs' experiments to end before this {what} turn ..."
        self.waited_s = 0.0
        self._told = False
        self._fd: int | None = None

    def _take(self, fd: int, mode: int, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not blocking:
                return False
            if not self.shared and not self._told:  # once, whether the gate or the turn itself makes it wait
                self.progress(self.waiting)
                self._told = True
            began = time.monotonic()
            fcntl.flock(fd, mode)
            self.waited_s += time.monotonic() - began
            return True

    def acquire(self, blocking: bool = True) -> bool:
        """Take the turn; with ``blocking=False`` return False at once instead of waiting."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.shared and self.path in TurnLock._readers:
            return True  # already held by this process: nothing to add
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        gate = os.open(self.gate, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not self._take(gate, mode, blocking):
                return False
            mine = TurnLock._readers.pop(self.path, None)
            if mine is not None and not self.shared:
                mine.release()  # our own reader would otherwise wait for us forever
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not self._take(self._fd, mode, blocking):
                os.close(self._fd)
                self._fd = None
                return False
        finally:
            os.close(gate)
        if self.shared:
            TurnLock._readers[self.path] = self
        return True

    def __enter__(self) -> TurnLock:
        self.acquire()
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None
        if TurnLock._readers.get(self.path) is self:
            del TurnLock._readers[self.path]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def run_started(run_id: str) -> float | None:
    """Epoch seconds a run id was made (``20261124T101500Z-ab12``, UTC), or None if it is not one of ours."""
    try:
        return float(calendar.timegm(time.strptime(run_id.split("-", 1)[0], "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def run_alive(run_id: str, now: float | None = None) -> bool:
    """False when the run that made a resource can no longer clean it up itself."""
    path = state_dir() / f"{run_id}.lock"
    if path.exists():
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False  # it finished and removed its file just now
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False
    started = run_started(run_id)
    return started is None or (now or time.time()) - started < MAX_RUN_AGE_S


def forget_dead_runs() -> None:
    """Remove the lock files of runs that are over (their resources have just been swept)."""
    folder = state_dir()
    for lock in folder.glob("*.lock") if folder.is_dir() else ():
        if not run_alive(lock.stem):
            lock.unlink(missing_ok=True)


@dataclass
class SweepResult:
    """What a sweep removed, and what it tried to remove and could not (with the engine's reason)."""

    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return self.removed + [f"could not remove {f}" for f in self.failed]


def sweep(client: docker.DockerClient, select: Callable[[str], bool]) -> SweepResult:
    """Remove every ``orchlab.run``-labelled service, container, network, image and swarm whose run id ``select`` picks.

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

    for kind, step in (("services", services), ("containers", containers), ("volumes", volumes), ("networks", networks),
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
