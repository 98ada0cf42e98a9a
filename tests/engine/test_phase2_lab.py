"""Phase 2 on a real swarm: the course's compose file, the fixed variant, broken compose files, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import docker
import pytest

from pytest_orchlab.docker.engine import RUN_LABEL
from tests.helpers import BASE_IMAGE, SAMPLE, browse, by_id, fetches, leftovers, outcomes, run_lab, start_lab_until, student_image

PHASE2 = ["p2-swarm-active", "p2-stack-deployed", "p2-policies-applied", "p2-scale-out", "p2-load-balanced",
          "p2-self-healing", "p2-rolling-update", "p2-rollback"]
VARIANT = SAMPLE / "variants" / "healthcheck"
SHORT = ("-k", "not rolling_update and not rollback")  # the update and rollback take minutes; not needed here


def swarm_state(client: docker.DockerClient) -> str:
    return str(client.info()["Swarm"]["LocalNodeState"])


def assert_within_floor(report: dict[str, object]) -> None:
    timings = report["timings_s"]
    assert isinstance(timings, dict)
    assert timings["phase2"] <= 1.25 * timings["phase2_engine_floor"], timings


def test_course_compose_is_reported_truthfully(pytester: pytest.Pytester, client: docker.DockerClient, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result, report = run_lab(pytester, SAMPLE, "-m", "phase1 or phase2", "--lab-html", str(page))
    got = {cid: outcome for cid, outcome in outcomes(report).items() if cid.startswith("p2-")}
    # The finding about the course material: without a healthcheck a new task gets traffic before app.py listens.
    assert got == {**{cid: "passed" for cid in PHASE2}, "p2-rolling-update": "failed"}, result.stdout.str()
    update = by_id(report, "p2-rolling-update")
    ev = update["evidence"]
    assert ev["failed_requests"] > 0 and set(ev["failures"]) == {"refused"}
    assert "joined load balancing before app.py listened" in update["message"] and "healthcheck" in update["hint"]
    assert ev["max_concurrently_updating"] == 1 and min(ev["gaps_s"]) >= 9.5 and ev["answers_after"] == {"Greetings": 20}
    assert {"service_ps", "spec", "logs", "traffic"} <= set(ev)
    heal = by_id(report, "p2-self-healing")["evidence"]
    assert 5.0 <= heal["recovery_s"] <= 15 and heal["replicas_after"] == 5
    assert len(by_id(report, "p2-load-balanced")["evidence"]["distribution"]) >= 3
    deployed = by_id(report, "p2-stack-deployed")
    if not deployed["evidence"]["routing_mesh"]:
        assert "routing mesh" in deployed["message"] and "in-network probe" in ev["traffic"]["path"]
    assert_within_floor(report)
    result.stdout.fnmatch_lines(["*Phase 2: wall * s / engine floor * s = *x"])
    assert leftovers(client) == [] and swarm_state(client) == "inactive"
    # What the student saw, opened as a person would: a real browser, no console error, the update drawn with every
    # refused request on it (the course's finding: each right after a new task started).
    dom, console = browse(page, tmp_path / "report.png")
    assert console == [] and fetches(page.read_text()) == [] and fetches(dom) == []
    chart = dom[dom.index('data-checkpoint="p2-rolling-update"'):]
    chart = chart[:chart.index("</figure>")]
    assert chart.count('class="failed"') == len(ev["timeline"]["failed"]) == ev["failed_requests"], ev["timeline"]
    assert chart.count(">slot ") == 5 and 'data-checkpoint="p1-cpu-saturation"' in dom
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_healthcheck_variant_passes_all_eight(pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    result, report = run_lab(pytester, VARIANT, "-m", "phase2")
    assert outcomes(report) == {cid: "passed" for cid in PHASE2}, result.stdout.str()
    assert by_id(report, "p2-rolling-update")["evidence"]["failed_requests"] == 0
    assert result.ret == pytest.ExitCode.OK
    assert_within_floor(report)
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def _compose(lab: Path, old: str, new: str) -> None:
    path = lab / "phase2" / "docker-compose.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


BLOCKED_AFTER_STACK = {cid: "blocked" for cid in PHASE2[2:]}


def test_wrong_replica_count(pytester: pytest.Pytester, lab_copy: Path, client: docker.DockerClient) -> None:
    _compose(lab_copy, "replicas: 3", "replicas: 2")
    result, report = run_lab(pytester, lab_copy, "-m", "phase2")
    assert outcomes(report) == {"p2-swarm-active": "passed", "p2-stack-deployed": "failed", **BLOCKED_AFTER_STACK}
    stack = by_id(report, "p2-stack-deployed")
    assert "2/2 running (the lab: 3/3)" in stack["message"] and "replicas: 3" in stack["hint"]
    assert {"service_ps", "spec", "logs"} <= set(stack["evidence"])
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def test_missing_restart_policy(pytester: pytest.Pytester, lab_copy: Path, client: docker.DockerClient) -> None:
    _compose(lab_copy, "      restart_policy:\n        condition: on-failure\n        delay: 5s\n        max_attempts: 3\n", "")
    result, report = run_lab(pytester, lab_copy, "-m", "phase2", *SHORT)
    assert outcomes(report) == {"p2-swarm-active": "passed", "p2-stack-deployed": "passed", "p2-policies-applied": "failed",
                                "p2-scale-out": "passed", "p2-load-balanced": "passed", "p2-self-healing": "passed"}
    policies = by_id(report, "p2-policies-applied")
    assert "restart_policy.Condition = " in policies["message"] and "(expected on-failure)" in policies["message"]
    assert "deploy.update_config and deploy.restart_policy" in policies["hint"]
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def test_update_parallelism_two(pytester: pytest.Pytester, lab_copy: Path, client: docker.DockerClient) -> None:
    _compose(lab_copy, "parallelism: 1", "parallelism: 2")
    result, report = run_lab(pytester, lab_copy, "-m", "phase2")
    got = outcomes(report)
    assert got == {**{cid: "passed" for cid in PHASE2}, "p2-policies-applied": "failed", "p2-rolling-update": "failed"}
    assert "update_config.Parallelism = 2 (expected 1)" in by_id(report, "p2-policies-applied")["message"]
    update = by_id(report, "p2-rolling-update")
    assert update["evidence"]["max_concurrently_updating"] == 2 and update["evidence"]["configured_parallelism"] == 2
    assert "2 tasks replaced at once (parallelism 2)" not in update["message"]  # 2 at once is what parallelism 2 asks for
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def test_app_without_greeting_is_blamed_on_phase1_not_on_the_balancing(pytester: pytest.Pytester, lab_copy: Path,
                                                                       client: docker.DockerClient) -> None:
    # Every task answers 200 but "Hi from ...": the balancing is still measured, the greeting is blamed on Phase 1's step.
    app = lab_copy / "phase1" / "app.py"
    app.write_text(app.read_text().replace("Hello from", "Hi from"))
    result, report = run_lab(pytester, lab_copy, "-m", "phase2", "-k", "load_balanced")
    balance = by_id(report, "p2-load-balanced")
    assert balance["evidence"]["greeting_missing"] is True, result.stdout.str()
    if "routing mesh" in balance["evidence"]["path"]:
        assert balance["outcome"] == "failed" and "not a load-balancing fault" in balance["message"]
        assert "p1-container-serves" in balance["hint"]
    else:
        assert balance["outcome"] == "passed" and len(balance["evidence"]["distribution_by_address"]) >= 3
        assert "fix Phase 1's app.py" in balance["message"] and "only 0" not in balance["message"]
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def test_yaml_that_does_not_parse(pytester: pytest.Pytester, lab_copy: Path, client: docker.DockerClient) -> None:
    _compose(lab_copy, "    deploy:\n", "    deploy\n")
    result, report = run_lab(pytester, lab_copy, "-m", "phase2")
    assert outcomes(report) == {"p2-swarm-active": "passed", "p2-stack-deployed": "failed", **BLOCKED_AFTER_STACK}
    stack = by_id(report, "p2-stack-deployed")
    assert "docker-compose.yml line 8, column 15" in stack["message"] and "is not valid YAML" in stack["message"]
    assert "indentation and colons near that line" in stack["hint"] and "Traceback" not in result.stdout.str()
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def test_ctrl_c_during_rolling_update(tmp_path: Path, client: docker.DockerClient) -> None:
    """A swarm and a service that were there before stay exactly as they were; the run's own are gone."""
    had_gwbridge = bool(client.networks.list(names=["docker_gwbridge"]))
    client.swarm.init()
    canary = client.services.create(BASE_IMAGE, ["sleep", "600"], name="orchlab-canary-svc")
    try:
        proc, seen = start_lab_until("docker service update --image", tmp_path, "-m", "phase2")
        time.sleep(8)  # well inside the first task's replacement
        assert leftovers(client), "".join(seen)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, "".join(seen) + rest
        assert leftovers(client) == [], rest
        assert swarm_state(client) == "active", "a swarm the user had must not be left"
        canary.reload()
        assert canary.name == "orchlab-canary-svc" and RUN_LABEL not in (canary.attrs["Spec"].get("Labels") or {})
        assert [s.name for s in client.services.list()] == ["orchlab-canary-svc"]
    finally:
        canary.remove()
        client.swarm.leave(force=True)
        if not had_gwbridge:
            for net in client.networks.list(names=["docker_gwbridge"]):
                net.remove()


def test_students_running_stack_is_checked_and_put_back(pytester: pytest.Pytester, tmp_path: Path, client: docker.DockerClient) -> None:
    """A student who did the lab has `webapp` running: it is graded as it runs and restored afterwards."""
    had_swarm = swarm_state(client) == "active"
    if had_swarm and client.services.list(filters={"label": "com.docker.stack.namespace=webapp"}):
        pytest.fail("a 'webapp' stack already runs on this engine; this test deploys its own and will not touch that one")
    had_gwbridge = bool(client.networks.list(names=["docker_gwbridge"]))
    student_tag, image_id = student_image(client, tmp_path)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text((SAMPLE / "phase2" / "docker-compose.yml").read_text().replace("simple-web:v1", student_tag))
    if not had_swarm:
        client.swarm.init()
    try:
        subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(compose), "webapp"],
                       check=True, capture_output=True)
        result, report = run_lab(pytester, SAMPLE, "-m", "phase2", *SHORT)
        got = outcomes(report)
        assert got["p2-stack-deployed"] == "passed" and got["p2-scale-out"] == "passed", result.stdout.str()
        # Without IPVS the probe must join the student's network, which the lab's file does not make attachable.
        expected_traffic = "passed" if by_id(report, "p2-stack-deployed")["evidence"]["routing_mesh"] else "not-gradable"
        assert got["p2-load-balanced"] == got["p2-self-healing"] == expected_traffic
        svc = client.services.get("webapp_web")
        assert svc.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 3, "the replica count is put back"
        assert svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(student_tag)
        assert RUN_LABEL not in (svc.attrs["Spec"].get("Labels") or {})
        assert leftovers(client) == [] and swarm_state(client) == "active"
    finally:
        subprocess.run(["docker", "stack", "rm", "webapp"], check=False, capture_output=True)
        for ctr in client.containers.list(all=True, filters={"label": "com.docker.stack.namespace=webapp"}):
            ctr.remove(force=True)
        if not had_swarm:
            client.swarm.leave(force=True)
        for ctr in client.containers.list(all=True, filters={"ancestor": image_id}):
            ctr.remove(force=True)
        client.images.remove(image_id, force=True)
        if not had_gwbridge and not had_swarm:
            for net in client.networks.list(names=["docker_gwbridge"]):
                net.remove()


def test_multinode_checkpoints_without_nodes_are_not_gradable_with_the_command(pytester: pytest.Pytester) -> None:
    result, report = run_lab(pytester, SAMPLE, "-m", "phase2x")
    assert {c["id"]: c["outcome"] for c in report["checkpoints"]} == dict.fromkeys(
        ("p2x-spread", "p2x-drain", "p2x-placement", "p2x-node-loss"), "not-gradable")
    assert all("--swarm-nodes 3" in (c["hint"] or "") for c in report["checkpoints"]), report["checkpoints"]
    assert "Traceback" not in result.stdout.str() and report["timings_s"]["session"] < 30


def test_the_lab_files_as_windows_and_students_save_them_grade_as_the_labs_own(pytester: pytest.Pytester, lab_copy: Path,
                                                                               client: docker.DockerClient) -> None:
    # compose.yaml and dockerfile (names docker accepts), CRLF line endings and a UTF-8 BOM everywhere.
    for old, new in (("phase2/docker-compose.yml", "phase2/compose.yaml"), ("phase1/Dockerfile", "phase1/dockerfile"), ("phase1/app.py", "phase1/app.py")):
        text = (lab_copy / old).read_text()
        (lab_copy / old).unlink()
        (lab_copy / new).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result, report = run_lab(pytester, lab_copy, "-m", "phase1 or phase2",
                             "-k", "image_builds or container_serves or swarm_active or stack_deployed or policies_applied")
    assert set(outcomes(report).values()) == {"passed"}, result.stdout.str()
    assert by_id(report, "p1-image-builds")["evidence"]["dockerfile"] == "phase1/dockerfile"
    assert by_id(report, "p2-stack-deployed")["evidence"]["compose_file"] == "phase2/compose.yaml"
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


def test_a_compose_file_under_another_name_is_failed_with_a_hint_naming_it(pytester: pytest.Pytester, lab_copy: Path,
                                                                           client: docker.DockerClient) -> None:
    (lab_copy / "phase2" / "docker-compose.yml").rename(lab_copy / "phase2" / "docker_compose.yml")
    result, report = run_lab(pytester, lab_copy, *STACK_ONLY_K)
    deployed = by_id(report, "p2-stack-deployed")
    assert deployed["outcome"] == "failed", result.stdout.str()
    assert "There is phase2/docker_compose.yml: the lab step names it phase2/docker-compose.yml" in deployed["message"]
    assert leftovers(client) == [] and swarm_state(client) == "inactive"


STACK_ONLY_K = ("-m", "phase2", "-k", "swarm_active or stack_deployed")
