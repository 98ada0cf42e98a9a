"""Phase 1 on a real Docker engine: the reference lab, broken labs, busy resources, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from testcontainers.core.container import DockerContainer

from pytest_orchlab.docker.engine import RUN_LABEL
from tests.helpers import BASE_IMAGE, SAMPLE, by_id, crashed_run, leftovers, outcomes, run_lab, start_lab_until

PHASE1 = ["p1-image-builds", "p1-container-serves", "p1-cpu-saturation", "p1-latency-rises",
          "p1-requests-fail", "p1-throughput-ceiling", "p1-kill-outage", "p1-manual-recovery"]
AFTER_SERVES = {cid: "blocked" for cid in PHASE1[2:]}


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_reference_lab_passes_all_eight_with_numbers(pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    before = tree_digest(SAMPLE)
    result, report = run_lab(pytester, SAMPLE, "-m", "phase1")
    assert outcomes(report) == {cid: "passed" for cid in PHASE1}, result.stdout.str()
    assert result.ret == pytest.ExitCode.OK
    cpu = by_id(report, "p1-cpu-saturation")["evidence"]
    assert cpu["peak_cpu_pct"] >= 0.9 * cpu["ceiling_pct"]
    assert by_id(report, "p1-requests-fail")["evidence"]["failed"] > 0
    assert by_id(report, "p1-kill-outage")["evidence"]["exit_code"] == 137
    downtime = by_id(report, "p1-manual-recovery")["evidence"]["downtime_s"]
    assert 0 < downtime < 15 and round(downtime, 1) == downtime
    assert report["schema"] == "pytest-orchlab/report/1" and report["engine"]["version"]
    assert {"phase1", "session"} <= set(report["timings_s"])
    result.stdout.fnmatch_lines(["*✅ CPU use reaches 90% or more*", "*passed: peak CPU*", "Score: 11/11"])
    assert tree_digest(SAMPLE) == before, "the lab folder must never be modified"
    assert leftovers(client) == []


def _break(lab: Path, name: str) -> None:
    app, dockerfile = lab / "phase1" / "app.py", lab / "phase1" / "Dockerfile"
    if name == "dockerfile-does-not-build":
        dockerfile.write_text(dockerfile.read_text().replace("RUN pip install flask", "RUN pip install flask && exit 3"))
    elif name == "app-on-wrong-port":
        app.write_text(app.read_text().replace("port=5000", "port=5001"))
    elif name == "wrong-greeting":
        app.write_text(app.read_text().replace("Hello from", "Hi from"))
    elif name == "app-crashes":
        app.write_text(app.read_text().replace("app = Flask(__name__)", "app = Flask(__name__)\nraise SystemExit('boom: bad config')"))
    elif name == "missing-folder":
        import shutil

        shutil.rmtree(lab / "phase1")


BROKEN = {
    "dockerfile-does-not-build": ({"p1-image-builds": "failed", "p1-container-serves": "blocked", **AFTER_SERVES},
                                  "p1-image-builds", "fix the error the build log shows", "returned a non-zero code: 3"),
    "app-on-wrong-port": ({"p1-image-builds": "passed", "p1-container-serves": "failed", **AFTER_SERVES},
                          "p1-container-serves", "0.0.0.0:5000", "did not answer within"),
    "wrong-greeting": ({"p1-image-builds": "passed", "p1-container-serves": "failed", **AFTER_SERVES},
                       "p1-container-serves", "'Hello from {hostname}'", "without 'Hello from"),
    "app-crashes": ({"p1-image-builds": "passed", "p1-container-serves": "failed", **AFTER_SERVES},
                    "p1-container-serves", "fix the error in the logs", "boom: bad config"),
    "missing-folder": ({"p1-image-builds": "failed", "p1-container-serves": "blocked", **AFTER_SERVES},
                       "p1-image-builds", "environment setup", "phase1/app.py, phase1/Dockerfile missing"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_lab_gets_exact_outcomes_and_hint(
    name: str, pytester: pytest.Pytester, lab_copy: Path, client: docker.DockerClient
) -> None:
    expected, failing, hint, seen = BROKEN[name]
    _break(lab_copy, name)
    before = tree_digest(lab_copy) if lab_copy.exists() else ""
    result, report = run_lab(pytester, lab_copy, "-m", "phase1")
    assert outcomes(report) == expected, result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = by_id(report, failing)
    assert hint in failed["hint"] and seen in failed["message"], failed
    assert "Traceback" not in result.stdout.str()
    assert (tree_digest(lab_copy) if lab_copy.exists() else "") == before
    assert leftovers(client) == []


def test_a_sweep_measured_beside_other_work_is_measured_again(tmp_path: Path, client: docker.DockerClient) -> None:
    """A process that spins on a core for 12 s from the sweep's first level on: the levels are measured again once the
    machine is quiet, and the verdicts are the reference lab's (in a class of twenty, two sweeps measured beside 42 and
    52 % of a core of other work had failed p1-throughput-ceiling before)."""
    report = tmp_path / "report.json"
    proc, seen = start_lab_until("orchlab: load 10 concurrent clients", tmp_path, "-m", "phase1", "--lab-report", str(report))
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 12\nwhile time.time() < end: pass"])
    try:
        rest, _ = proc.communicate(timeout=240)
    finally:
        hog.kill()
        hog.wait()
    assert proc.returncode == pytest.ExitCode.OK, "".join(seen) + rest
    data = json.loads(report.read_text())
    assert outcomes(data) == {cid: "passed" for cid in PHASE1}, rest
    evidence = by_id(data, "p1-cpu-saturation")["evidence"]
    first = evidence["measured_again_after_noise"]
    assert first[0]["others_pct"] > 30 and len(first) <= 2, evidence  # a second re-measure only if the hypervisor stole meanwhile
    assert "measuring the levels again" in rest


def test_an_app_without_a_ceiling_is_failed_only_after_three_looks(pytester: pytest.Pytester, lab_copy: Path,
                                                                   client: docker.DockerClient) -> None:
    """Every request sleeps 1-2 s, and the listen queue holds every client: a closed loop that grows with its clients
    (×k clients, ×k req/s) far below the core's ceiling. A failing ceiling is measured again before it is called one,
    here twice, and fails on the median of the looks. (With the lab's 128-deep listen queue and a fixed 1.5 s sleep, the clients'
    SYNs came in bursts that overflowed it, and 1000 clients gave 268 req/s after 240 at 600: a queue's ceiling.)"""
    app = lab_copy / "phase1" / "app.py"
    text = app.read_text().replace("if random.random() < 0.1:\n        time.sleep(2)", "time.sleep(random.uniform(1, 2))")
    text = text.replace("app = Flask(__name__)", "import werkzeug.serving\nwerkzeug.serving.BaseWSGIServer.request_queue_size = 4096\n"
                        "app = Flask(__name__)")
    app.write_text(text)
    assert "random.uniform(1, 2)" in text and "request_queue_size = 4096" in text
    result, report = run_lab(pytester, lab_copy, "-m", "phase1")
    ceiling = by_id(report, "p1-throughput-ceiling")
    assert ceiling["outcome"] == "failed" and "still grew" in ceiling["message"], ceiling["message"]
    assert "the median of 3 measurements" in ceiling["message"] and ceiling["evidence"]["looks"] == 3
    first = {r["concurrency"]: r["rps"] for r in ceiling["evidence"]["steps"]}
    again = ceiling["evidence"]["measured_again"]
    assert [r["concurrency"] for r in again] == [600, 1000, 600, 1000], again
    looks = [(first[600], first[1000])] + [(again[i]["rps"], again[i + 1]["rps"]) for i in (0, 2)]
    # Judged on the median: at least two of the three looks saw it grow beyond what a ceiling allows (here ×1.51-×1.59;
    # once in CI the third look's 1000 clients all timed out, 0 req/s, which the median leaves aside).
    assert sum(top > ceiling["evidence"]["plateau_allowed_gain"] * ref > 0 for ref, top in looks) >= 2, looks
    assert "Traceback" not in result.stdout.str()
    assert leftovers(client) == []


def test_busy_port_is_not_gradable_and_left_alone(pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("0.0.0.0", 8080))
        squatter.listen(1)
        result, report = run_lab(pytester, SAMPLE, "-m", "phase1")
        assert squatter.fileno() != -1
    got = outcomes(report)
    assert got["p1-image-builds"] == "passed" and got["p1-container-serves"] == "not-gradable"
    assert set(got.values()) == {"passed", "not-gradable", "blocked"}
    assert "Port 8080 is already taken" in by_id(report, "p1-container-serves")["message"]
    assert leftovers(client) == []


def test_students_own_web_app_is_left_alone(pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    with DockerContainer(BASE_IMAGE, name="web-app", command="sleep 300") as theirs:
        result, report = run_lab(pytester, SAMPLE, "-m", "phase1")
        serves = by_id(report, "p1-container-serves")
        assert serves["outcome"] == "not-gradable" and "docker rm -f web-app" in serves["hint"]
        theirs.get_wrapped_container().reload()
        assert theirs.get_wrapped_container().status == "running"
    assert leftovers(client) == []


def test_leftovers_of_a_crashed_run_are_swept(pytester: pytest.Pytester, client: docker.DockerClient, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHLAB_STATE_DIR", str(tmp_path))
    run = crashed_run("20990101T000000Z-c4a5")
    stale = client.containers.create(BASE_IMAGE, "sleep 300", labels={RUN_LABEL: run})
    result, report = run_lab(pytester, pytester.path / "no-lab", "-m", "phase1")
    assert outcomes(report)["p1-image-builds"] == "failed"
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(stale.id)
    result.stdout.fnmatch_lines(["*swept leftovers of runs that are over: container*"])
    assert f"before the run: container {stale.name}" in report["cleanup"]


def test_ctrl_c_mid_checkpoint_leaves_nothing_and_spares_the_canary(tmp_path: Path, client: docker.DockerClient) -> None:
    with DockerContainer(BASE_IMAGE, name="orchlab-canary", command="sleep 300") as canary:
        # mid-way through p1-cpu-saturation
        proc, seen = start_lab_until("orchlab: load 300 concurrent clients", tmp_path, "-m", "phase1")
        assert leftovers(client), "the run should have resources while it is under way"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, "".join(seen) + rest
        assert leftovers(client) == [], rest
        canary.get_wrapped_container().reload()
        assert canary.get_wrapped_container().status == "running"
