"""The `orchlab` command against the real engine."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from pytest_orchlab.cli import main
from pytest_orchlab.core.runs import RunLock
from pytest_orchlab.docker.engine import RUN_LABEL
from tests.helpers import BASE_IMAGE, SAMPLE, crashed_run


def test_engine_reports_a_running_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engine"]) == 0
    assert "engine already answers at" in capsys.readouterr().out


def test_base_image_is_cached(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["base-image", "--name", BASE_IMAGE]) == 0
    assert "already present (cached" in capsys.readouterr().out


def test_sweep_removes_only_runs_that_are_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Liveness is a held lock (survives PID reuse and new hostnames), else the run id's age; unlabelled is never touched."""
    monkeypatch.setenv("ORCHLAB_STATE_DIR", str(tmp_path))
    client = docker.from_env()
    crashed = crashed_run("20990101T000000Z-dead")
    old, unknown, live = "20200101T000000Z-0ld0", "not-a-run-id", "20990101T000000Z-live"
    made = {run: client.containers.create(BASE_IMAGE, "true", labels={RUN_LABEL: run}) for run in (crashed, old, unknown, live)}
    foreign = client.containers.create(BASE_IMAGE, "true")
    try:
        with RunLock(live):
            assert main(["sweep"]) == 0
        out = capsys.readouterr().out
        for run in (crashed, old):
            assert f"container {made[run].name}" in out
            with pytest.raises(docker.errors.NotFound):
                client.containers.get(made[run].id)
        for kept in (made[unknown], made[live], foreign):
            client.containers.get(kept.id)
        assert not (tmp_path / f"{crashed}.lock").exists(), "the lock file of a run that is over is forgotten"
    finally:
        for ctr in (made[unknown], made[live], foreign):
            ctr.remove(force=True)


def test_no_engine_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert main(["sweep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orchlab sweep: No Docker engine answers at tcp://127.0.0.1:9") and "Traceback" not in err


def test_bench_compares_with_ab_and_shows_where_the_cpu_went(capsys: pytest.CaptureFixture[str]) -> None:
    """A short real benchmark: both tools load the lab app; the table has rates, ratio and CPU for each."""
    assert main(["bench", "--lab-dir", str(SAMPLE), "--base-image", BASE_IMAGE, "--levels", "50", "--seconds", "3", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.split()[:1] == ["50"])
    cells = row.replace("/", " ").split()
    ab_rps, ours_rps, ratio = float(cells[1]), float(cells[2]), float(cells[3])
    assert ab_rps > 0 and ours_rps > 0, row
    # The table rounds the rates to whole req/s and the ratio (of the unrounded rates) to 0.01, so the ratio
    # is checked against the interval the rounded rates allow: at 84 req/s under ab, ±0.5 is ±0.6 %.
    low, high = (ours_rps - 0.5) / (ab_rps + 0.5) - 0.005, (ours_rps + 0.5) / (ab_rps - 0.5) + 0.005
    assert low <= ratio <= high, row
    app_ab, app_ours, tool_ab, tool_ours = map(float, cells[4:8])
    assert app_ab > 0 and app_ours > 0 and tool_ab > 0 and tool_ours > 0, row
    assert docker.from_env().containers.list(all=True, filters={"label": RUN_LABEL}) == []
