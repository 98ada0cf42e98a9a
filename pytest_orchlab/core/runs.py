"""Runs and turns: which runs are alive, each run's private folder, and who may use the machine when.

A run is alive while it holds an exclusive lock on its own file in the state folder: the kernel drops
the lock when the process dies, whatever happened to it, so this survives reused PIDs and changing
hostnames in containers and CI. Where no lock file is to be seen (the run was on another machine or in
another container), the run id's own start time decides: a run older than :data:`MAX_RUN_AGE_S` is over.

Every run also has a private folder beside its lock (``<state>/runs/<run id>/``): the snapshot of the
student's files and every temporary folder of the run live there, and the next run's start-up sweep
removes the folders of runs that are over (a killed run cannot remove its own).

The turns, in one place (several runs of one teacher's ``orchlab grade --jobs`` share a machine):

- ``cpu``: every checkpoint holds it shared while it runs; Phase 1's saturation sweep holds it alone, so no
  other run's traffic or rollout skews the CPU it measures. A run that waits for it pauses its own
  background traffic (another run measures CPU meanwhile).
- ``background``: held shared, from Phase 2 to the end, by a run whose stack runs a healthcheck (its idle
  tasks take about a quarter of two cores); the sweep takes it alone first, so it waits until no such stack
  is up. Always ``background`` before ``cpu``: the same order in every run, so they cannot deadlock.
- ``kube``: Phase 3 of one run at a time (one cluster, one ``hello-k8s`` per namespace).
"""

from __future__ import annotations

import calendar
import contextlib
import fcntl
import os
import pwd
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar

MAX_RUN_AGE_S = 6 * 3600  # a whole lab (all phases) takes minutes; class grading gives each student a run of its own
SWEEP_WAITING = "orchlab: waiting until no other run's stack runs a healthcheck (its checks take CPU from this sweep) ..."


def state_dir() -> Path:
    """Where run lock files live: ``ORCHLAB_STATE_DIR``, else ``$XDG_STATE_HOME/orchlab/runs`` (``~/.local/state``)."""
    if os.environ.get("ORCHLAB_STATE_DIR"):
        return Path(os.environ["ORCHLAB_STATE_DIR"])
    # The account's home from the password database, not $HOME: a test harness that moves $HOME (pytester)
    # must still see the same runs and the same orchlab cluster.
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".local", "state")
    return Path(base) / "orchlab" / "runs"


def cluster_home() -> Path:
    """Everything of the orchlab cluster: ``$XDG_STATE_HOME/orchlab/cluster`` (or under ``ORCHLAB_STATE_DIR``)."""
    return state_dir().parent / "cluster"


def kubeconfig_path() -> Path:
    """The fixed per-user path ``orchlab cluster up`` writes the cluster's kubeconfig to."""
    return cluster_home() / "kubeconfig.yaml"


def run_folder(run_id: str) -> Path:
    """The run's private folder (made on first use, mode 0700): snapshots, build contexts, compose copies."""
    folder = state_dir() / run_id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def scratch(run_id: str, prefix: str) -> Path:
    """A fresh folder for one job of the run, inside the run's folder (gone with it)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix, dir=run_folder(run_id)))


class RunLock:
    """Held for the whole run: ``with RunLock(run_id):``. Its file and the run's folder are removed on exit."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.path = state_dir() / f"{run_id}.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits out another run's sweep, which holds it for a moment to look
            if _same_file(fd, self.path):
                break
            os.close(fd)  # a sweep removed the file between its open and its lock: a lock on no file guards nothing
        self._fd = fd
        os.write(fd, f"pid {os.getpid()}\n".encode())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            shutil.rmtree(state_dir() / self.run_id, ignore_errors=True)
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the lock
            self._fd = None


class TurnLock:
    """One of the machine's turns (see the module's docstring), across runs.

    A blocking ``flock`` on a shared file in the state folder, so several runs queue here and a dead run's
    turn ends with its process. ``shared=True`` is a reader: any number run together, and none while an
    exclusive holder runs. Exclusive holders go first: one that waits takes a gate file that new readers
    must pass, so a steady stream of readers (other students' Phase 2 experiments) cannot starve it. A
    process's own reader gives way to its own writer.
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


@contextlib.contextmanager
def machine_alone(progress: Callable[[str], None]) -> Iterator[list[float]]:
    """The saturation sweep's turn: ``background`` alone, then ``cpu`` alone. Yields a list that holds the
    seconds waited for both once the block ends."""
    waited: list[float] = []
    quiet = TurnLock("background", progress, waiting=SWEEP_WAITING)
    alone = TurnLock("cpu", progress)
    try:
        with quiet, alone:
            yield waited
    finally:
        waited.append(quiet.waited_s + alone.waited_s)


@contextlib.contextmanager
def experiment_turn(progress: Callable[[str], None], pause_background: Callable[[], contextlib.AbstractContextManager[None]]) -> Iterator[None]:
    """Any other checkpoint's turn: ``cpu`` shared. While another run's CPU measurement waits or runs, this run's
    background traffic pauses until the turn is ours (between two experiments nothing of ours is measured)."""
    turn = TurnLock("cpu", progress, shared=True)
    if not turn.acquire(blocking=False):
        with pause_background():
            turn.acquire()
    try:
        yield
    finally:
        turn.release()


def busy_background(progress: Callable[[str], None], why: str) -> TurnLock:
    """Take the shared ``background`` turn for a run whose stack runs a healthcheck (``why`` says where);
    the caller releases it when the run ends."""
    turn = TurnLock("background", progress, shared=True)
    if not turn.acquire(blocking=False):
        progress(f"orchlab: the stack runs a healthcheck ({why}); waiting for another run's CPU sweep first ...")
        turn.acquire()
    return turn


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


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _remove_unlocked(lock: Path) -> None:
    """Remove a run's lock file that no run holds, while holding it: a run that opened it meanwhile then finds it
    gone (see :meth:`RunLock.__enter__`) instead of locking a file no longer on disk."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _same_file(fd, lock):
            lock.unlink(missing_ok=True)
    except BlockingIOError:
        pass  # the run is alive
    finally:
        os.close(fd)


def forget_dead_runs() -> list[str]:
    """Remove the lock files and private folders of runs that are over (their resources have just been swept).

    A folder without a lock file beside it is over too: every run here takes its lock before its folder.
    Returns the run ids whose folders were removed.
    """
    folder = state_dir()
    if not folder.is_dir():
        return []
    gone = []
    for lock in folder.glob("*.lock"):
        _remove_unlocked(lock)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink() and run_started(entry.name) is not None and not (folder / f"{entry.name}.lock").exists():
            shutil.rmtree(entry, ignore_errors=True)
            gone.append(entry.name)
    return gone
