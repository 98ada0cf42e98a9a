"""Docker releases for course maintainers, on real inner engines: build, up/down, the matrix with a diff, Ctrl-C.

Slow (debootstrap of each suite once, an inner engine per test), so `tox -e releases` runs this folder
and CI runs that environment after `tox -e tests`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from pytest_orchlab.cli import main
from pytest_orchlab.docker.engine import RUN_LABEL
from pytest_orchlab.docker.engines import ENGINE_LABEL, remove_engines, start_engine
from pytest_orchlab.results.matrix import Matrix, across_releases, differing, not_reproduced
from tests.helpers import BASE_IMAGE, SAMPLE, class_folder
from tests.releases.conftest import labelled

RUN = "20990101T000000Z-rel0"


REACH = ("import socket, sys\nfor host in sys.argv[1:]:\n    s = socket.socket(); s.settimeout(3)\n"
         "    try:\n        s.connect((host, 2375)); print(host, 'open')\n    except OSError as e:\n        print(host, type(e).__name__)\n"
         "    finally:\n        s.close()\n")


def test_an_inner_engines_api_answers_the_grader_only(client: docker.DockerClient) -> None:
    # `orchlab grade --engines` runs each student in an engine of its own: no student container may drive its own
    # engine (it could start a container with every capability there) or another student's.
    first = start_engine(client, "20.10", labels={RUN_LABEL: RUN}, node="iso1", base_image=BASE_IMAGE)
    second = start_engine(client, "20.10", labels={RUN_LABEL: RUN}, node="iso2", base_image=BASE_IMAGE)
    try:
        own, other = first.address.split("//")[1].split(":")[0], second.address.split("//")[1].split(":")[0]
        inner = docker.DockerClient(base_url=first.address, timeout=60)
        said = inner.containers.run(BASE_IMAGE, ["python3", "-c", REACH, own, "10.213.0.1", other], remove=True).decode()
        assert said.split("\n")[:3] == [f"{own} ConnectionRefusedError", "10.213.0.1 ConnectionRefusedError", f"{other} ConnectionRefusedError"], said
        host = client.containers.run(BASE_IMAGE, ["python3", "-c", REACH, own], remove=True).decode()
        assert host.strip() == f"{own} ConnectionRefusedError", host  # a container on the host engine is not the grader either
        assert docker.DockerClient(base_url=second.address, timeout=10).ping()  # the grader (this machine) is
    finally:
        remove_engines(client, lambda labels: labels.get(RUN_LABEL) == RUN)
    assert labelled(client, f"{RUN_LABEL}={RUN}") == []


def test_an_inner_engine_of_another_release_runs_the_lab_image_and_leaves_nothing(client: docker.DockerClient) -> None:
    engine = start_engine(client, "26.1", labels={RUN_LABEL: RUN}, base_image=BASE_IMAGE)
    try:
        assert engine.version.startswith("26.1."), engine.describe()
        assert engine.mode in ("privileged", "capabilities")
        inner = docker.DockerClient(base_url=engine.address, timeout=60)
        assert inner.images.get(BASE_IMAGE)  # copied in, no registry
        out = inner.containers.run(BASE_IMAGE, ["python3", "-c", "import flask; print(flask.__name__)"], remove=True)
        assert out.strip() == b"flask"
        assert main(["engines", "status"]) == 0
    finally:
        remove_engines(client, lambda labels: labels.get(RUN_LABEL) == RUN)
    assert labelled(client, f"{RUN_LABEL}={RUN}") == []


def test_the_matrix_on_two_releases_with_a_diff(client: docker.DockerClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # As the docs write it, run in the checkout: --lab-dir's default sample_app is the checkout's, and the base image the
    # lab runs are told to use (after --) is the one copied into every engine.
    monkeypatch.chdir(SAMPLE.parent)
    out = tmp_path / "matrix"
    out.mkdir()
    # A previous matrix in which 20.10 failed the saturation and 26.1 had not been tried: both must show in the diff.
    previous = {"schema": "orchlab-matrix/1", "releases": {"20.10": {"version": "20.10.24"}},
                "cells": {"p1-cpu-saturation": {"20.10": {"outcome": "failed", "figures": {"peak_cpu_pct": 60.0}, "message": "m"}}}}
    (out / "matrix.json").write_text(json.dumps(previous))
    code = main(["matrix", "--docker", "20.10,26.1", "--out", str(out), "--", "-m", "phase1", "--lab-lang", "en", "--base-image", BASE_IMAGE])
    said = capsys.readouterr().out
    assert code == 0, said
    m = Matrix.from_json(json.loads((out / "matrix.json").read_text()))
    assert list(m.columns) == ["20.10", "26.1"]
    assert m.columns["26.1"]["version"].startswith("26.1.") and m.columns["20.10"]["version"].startswith("20.10.")
    for release in m.columns:
        outcomes = {cid: m.cell(cid, release).outcome for cid in m.ids()}
        assert len(outcomes) == 8 and set(outcomes.values()) <= {"passed", "failed"}, (release, outcomes)  # all measured
        for cid in ("p1-image-builds", "p1-container-serves", "p1-kill-outage", "p1-manual-recovery"):
            assert outcomes[cid] == "passed", (release, cid, m.cell(cid, release).message)
        # Through an inner engine's published port the peak sat at 89.9-93 % here: measured, judged either way.
        assert m.cell("p1-cpu-saturation", release).figures["peak_cpu_pct"] > 50
        assert m.cell("p1-manual-recovery", release).figures["downtime_s"] > 0
    md = (out / "matrix.md").read_text()
    assert "| `p1-image-builds` | ✅" in md and "Docker 26.1 (26.1." in md
    if m.cell("p1-cpu-saturation", "20.10").outcome == "passed":
        assert "`p1-cpu-saturation` on Docker 20.10: failed → passed" in md
    else:  # still failed: the figure moved by more than a quarter (60 → about 90 %)
        assert "`p1-cpu-saturation` on Docker 20.10: peak_cpu_pct 60 →" in md
    assert "new release column: Docker 26.1" in md
    # A difference between the releases was measured once more on each before it is called one.
    assert set(m.rechecked) == set(differing(m)), m.rechecked
    for cid in m.rechecked:
        assert all((out / r / "recheck" / "report.json").exists() for r in m.columns), cid
        assert sum(line.startswith(f"`{cid}`") for line in across_releases(m) + not_reproduced(m)) == 1, md
        assert ("did not reproduce" in md) == bool(not_reproduced(m))
    assert (out / "matrix.previous.json").exists() and (out / "matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert labelled(client, ENGINE_LABEL) == [], "every inner engine of the matrix is gone"


def test_a_class_spread_over_two_inner_engines_of_different_releases(client: docker.DockerClient, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    room = class_folder(tmp_path / "class")
    for sid in ("bora", "dana", "finn"):  # alice (the reference), chul (wrong greeting), eun (no phase1/) stay
        subprocess.run(["rm", "-rf", str(room / sid)], check=True)
    out = tmp_path / "graded"
    code = main(["grade", str(room), "--out", str(out), "--engines", "20.10,26.1", "--", "-m", "phase1", "--lab-lang", "en",
                 "--base-image", BASE_IMAGE])
    said = capsys.readouterr().out
    assert code == 0, said
    assert "with 2 job(s)" in said, said
    rows = {r["student"]: r for r in json.loads((out / "class.json").read_text())}
    assert set(rows) == {"alice", "chul", "eun"}
    engines = {r["engine"] for r in rows.values()}
    assert all(e and e.startswith("tcp://") for e in engines) and len(engines) == 2, rows  # both engines graded someone
    reports = {sid: json.loads((out / "students" / sid / "report.json").read_text()) for sid in rows}
    assert {r["engine"]["version"][:4] for r in reports.values()} == {"20.1", "26.1"}
    outcomes = {sid: {cp["id"]: cp["outcome"] for cp in r["checkpoints"]} for sid, r in reports.items()}
    missed = {cp["id"]: (cp["outcome"], cp["message"], (cp.get("evidence") or {}).get("steps")) for cp in reports["alice"]["checkpoints"]
              if cp["outcome"] != "passed"}
    assert {cid: o for cid, o in outcomes["alice"].items() if o != "passed"}.items() <= {"p1-cpu-saturation": "failed"}.items(), missed
    assert outcomes["chul"]["p1-container-serves"] == "failed" and outcomes["eun"]["p1-image-builds"] != "passed"
    assert labelled(client, ENGINE_LABEL) == [], "every inner engine of the class run is gone"


def test_ctrl_c_during_the_matrix_removes_the_inner_engine(client: docker.DockerClient, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pytest_orchlab", "matrix", "--docker", "20.10", "--out", str(tmp_path / "m"),
                             "--lab-dir", str(SAMPLE), "--base-image", BASE_IMAGE, "--", "-m", "phase1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "running the lab suite" in line:
            break
    time.sleep(8)  # the inner run is building and serving the lab app
    assert labelled(client, ENGINE_LABEL), "".join(seen)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=180)[0]
    assert proc.returncode == 130, "".join(seen) + rest
    assert labelled(client, ENGINE_LABEL) == [], "".join(seen) + rest


def test_a_class_over_two_engines_reached_over_tcp_with_tls(client: docker.DockerClient, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Engines on other machines are reached as the Docker CLI reaches them: DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
    from pytest_orchlab.docker.tls import make_ca

    ca = tmp_path / "ca"
    cert_path = make_ca(ca)
    engines = [start_engine(client, "20.10", labels={RUN_LABEL: RUN}, node=f"tls{n}", base_image=BASE_IMAGE, tls_ca=ca) for n in (1, 2)]
    try:
        assert all(e.address.endswith(":2376") for e in engines), engines
        with pytest.raises(docker.errors.DockerException):  # no client certificate, no engine
            docker.DockerClient(base_url=engines[0].address.replace("tcp://", "https://"), timeout=5,
                                tls=docker.tls.TLSConfig(ca_cert=str(cert_path / "ca.pem"), verify=True)).ping()
        room = class_folder(tmp_path / "class")
        for sid in ("bora", "dana", "eun", "finn"):
            subprocess.run(["rm", "-rf", str(room / sid)], check=True)
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
        monkeypatch.setenv("DOCKER_CERT_PATH", str(cert_path))
        out = tmp_path / "graded"
        code = main(["grade", str(room), "--out", str(out), "--engines", ",".join(e.address for e in engines), "--", "-m", "phase1",
                     "-k", "image_builds or container_serves", "--lab-lang", "en", "--base-image", BASE_IMAGE])
        said = capsys.readouterr().out
        assert code == 0, said
        rows = {r["student"]: r for r in json.loads((out / "class.json").read_text())}
        assert {r["engine"] for r in rows.values()} <= {e.address for e in engines} and len(rows) == 2, rows
        got = {sid: {cp["id"]: cp["outcome"] for cp in json.loads((out / "students" / sid / "report.json").read_text())["checkpoints"]}
               for sid in rows}
        assert got == {"alice": {"p1-image-builds": "passed", "p1-container-serves": "passed"},
                       "chul": {"p1-image-builds": "passed", "p1-container-serves": "failed"}}, got
    finally:
        remove_engines(client, lambda labels: labels.get(RUN_LABEL) == RUN)
    assert labelled(client, f"{RUN_LABEL}={RUN}") == []
