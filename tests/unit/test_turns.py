"""The machine's turns (``TurnLock``) between real processes: readers share, a writer goes alone and first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HOLDER = """
import sys, time
from pathlib import Path
from pytest_orchlab.core.runs import TurnLock
name, mode, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
log = lambda what: open(folder / "log", "a").write(f"{name} {what}\\n")
lock = TurnLock("cpu", lambda line: log("waiting"), shared=mode == "shared")
with lock:
    log("got")
    while not (folder / f"release-{name}").exists():
        time.sleep(0.02)
log("released")
"""


def events(folder: Path) -> list[str]:
    return (folder / "log").read_text().splitlines() if (folder / "log").exists() else []


def wait_for(folder: Path, line: str, within: float = 20.0) -> None:
    end = time.monotonic() + within
    while line not in events(folder):
        assert time.monotonic() < end, f"{line!r} never came: {events(folder)}"
        time.sleep(0.02)


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    monkeypatch.setenv("ORCHLAB_STATE_DIR", str(tmp_path / "state" / "runs"))
    procs: list[subprocess.Popen[bytes]] = []

    def run(name: str, mode: str) -> None:
        procs.append(subprocess.Popen([sys.executable, "-c", HOLDER, name, mode, str(tmp_path)], env=os.environ.copy()))

    yield run
    for name in ("r1", "r2", "w"):
        (tmp_path / f"release-{name}").touch()
    for p in procs:
        p.wait(timeout=20)


def test_readers_share_the_turn(start: Callable[[str, str], None], tmp_path: Path) -> None:
    start("r1", "shared")
    wait_for(tmp_path, "r1 got")
    start("r2", "shared")
    wait_for(tmp_path, "r2 got")  # while r1 still holds it


def test_a_writer_waits_for_readers_and_new_readers_wait_for_it(start: Callable[[str, str], None], tmp_path: Path) -> None:
    start("r1", "shared")
    wait_for(tmp_path, "r1 got")
    start("w", "exclusive")
    wait_for(tmp_path, "w waiting")
    start("r2", "shared")
    time.sleep(1.5)  # r2 has long imported and reached the gate
    assert "r2 got" not in events(tmp_path), "a reader overtook the waiting writer"
    (tmp_path / "release-r1").touch()
    wait_for(tmp_path, "w got")
    time.sleep(0.5)
    assert "r2 got" not in events(tmp_path), "a reader ran beside the writer"
    (tmp_path / "release-w").touch()
    wait_for(tmp_path, "r2 got")
    assert events(tmp_path).index("w got") < events(tmp_path).index("r2 got")


def test_a_process_s_own_reader_gives_way_to_its_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_STATE_DIR", str(tmp_path / "runs"))
    from pytest_orchlab.core.runs import TurnLock

    with TurnLock("cpu", shared=True) as reader, TurnLock("cpu", shared=True) as again:
        assert again._fd is None  # held once per process
        with TurnLock("cpu") as writer:  # would wait for itself forever if the reader stayed
            assert writer._fd is not None and reader._fd is None
    assert TurnLock._readers == {}


def test_a_reader_that_would_wait_pauses_its_background_load_meanwhile(start: Callable[[str, str], None], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # What the session does before each checkpoint: try the shared turn; if another run's CPU measurement
    # holds or waits for it, pause this run's background traffic until the turn is ours again.
    from pytest_orchlab.core.runs import TurnLock
    from pytest_orchlab.state import LabState

    class Load:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def pause(self) -> None:
            self.calls.append("pause")

        def resume(self) -> None:
            self.calls.append("resume")

    start("w", "exclusive")
    wait_for(tmp_path, "w got")
    state = LabState.__new__(LabState)
    load = Load()
    state.background = [load]
    turn = TurnLock("cpu", shared=True)
    assert not turn.acquire(blocking=False), "the writer holds the turn"
    assert turn._fd is None and TurnLock._readers == {}
    with state.background_paused():
        assert load.calls == ["pause"]
        (tmp_path / "release-w").touch()
        turn.acquire()
    assert load.calls == ["pause", "resume"] and turn._fd is not None
    turn.release()
    assert turn.acquire(blocking=False)  # nobody else now: at once
    turn.release()


def test_a_killed_runs_folder_goes_at_the_next_start_and_a_live_ones_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_orchlab.core.runs import RunLock, forget_dead_runs, run_folder, scratch
    from tests.helpers import crashed_run

    monkeypatch.setenv("ORCHLAB_STATE_DIR", str(tmp_path / "runs"))
    dead = crashed_run("20261201T000000Z-dead")
    (run_folder(dead) / "lab" / "phase1").mkdir(parents=True)  # its snapshot and build copy, left behind by SIGKILL
    scratch(dead, "build-")
    with RunLock("20261202T000000Z-live") as live:
        (run_folder(live.run_id) / "lab").mkdir()
        assert forget_dead_runs() == [dead]
        assert not (tmp_path / "runs" / dead).exists() and (tmp_path / "runs" / live.run_id / "lab").is_dir()
    assert not (tmp_path / "runs" / live.run_id).exists(), "a run's folder goes with its lock"


def test_a_run_that_takes_its_lock_while_another_sweeps_keeps_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep between a new run's ``open`` of its lock file and its ``flock`` found the file unlocked and removed it;
    the run then locked a file no longer on disk, and the next sweep removed its folder (CI, 2026-12-07: a class's
    Phase 2 began three sessions at once and one lost its snapshot: "The lab folder ... does not exist")."""
    import threading

    from pytest_orchlab.core.runs import RunLock, forget_dead_runs, run_folder

    monkeypatch.setenv("ORCHLAB_STATE_DIR", str(tmp_path))
    stop, lost = threading.Event(), []

    def sweeper() -> None:
        while not stop.is_set():
            forget_dead_runs()

    sweepers = [threading.Thread(target=sweeper) for _ in range(2)]
    for s in sweepers:
        s.start()
    try:
        for i in range(400):
            run = f"20261207T000000Z-{i:04x}"
            with RunLock(run):
                (run_folder(run) / "lab").mkdir()
                for _ in range(3):
                    forget_dead_runs()
                if not (tmp_path / run / "lab").is_dir():
                    lost.append(run)
    finally:
        stop.set()
        for s in sweepers:
            s.join()
    assert lost == [], f"{len(lost)} of 400 runs lost their folder to a sweep while alive"
