"""Hostile submissions on a real engine: nothing of the grader (host folders, the Docker socket, the signing key, the
measurements) is within their reach, and the course's own files grade as before."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from pytest_orchlab.docker.engine import RUN_LABEL
from tests.helpers import BASE_IMAGE, by_id, leftovers, outcomes, run_lab, start_lab_until

KEY = "orchlab-test-course-key-do-not-leak"
STACK_ONLY = ("-m", "phase2", "-k", "swarm_active or stack_deployed")


def swarm_off(client: docker.DockerClient) -> bool:
    return str(client.info()["Swarm"]["LocalNodeState"]) == "inactive"


def test_a_hostile_compose_file_reaches_nothing(pytester: pytest.Pytester, lab_copy: Path, client: docker.DockerClient,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "host-folder"
    target.mkdir()
    (lab_copy / "phase2" / "docker-compose.yml").write_text(f"""\
version: '3.8'
services:
  web:
    image: simple-web:v1
    ports: ["8080:5000"]
    command: ["sh", "-c", "echo $$ORCHLAB_SIGNING_KEY > /host/key; python app.py"]
    environment: [ORCHLAB_SIGNING_KEY]
    volumes:
      - {target}:/host
      - /var/run/docker.sock:/var/run/docker.sock
    deploy:
      replicas: 50000
  extra:
    image: simple-web:v1
    env_file: ../../root/.env
secrets:
  key:
    file: ../../root/.ssh/id_rsa
networks:
  outside:
    external: true
""")
    networks_before = {n.id for n in client.networks.list()}
    monkeypatch.setenv("ORCHLAB_SIGNING_KEY", KEY)
    result, report = run_lab(pytester, lab_copy, *STACK_ONLY)
    deployed = by_id(report, "p2-stack-deployed")
    assert deployed["outcome"] == "failed", result.stdout.str()
    for key in ("services.web.volumes.0", "services.web.volumes.1", "services.web.deploy.replicas", "services.extra.env_file",
                "secrets.key.file"):
        assert key in deployed["message"], (key, deployed["message"])
    assert "docker-compose.yml:9 (services.web.volumes.0) asks for a bind mount" in deployed["message"]
    assert "needs only its image, ports" in deployed["hint"] and "Traceback" not in result.stdout.str()
    assert list(target.iterdir()) == [], "nothing was written into the host folder"
    assert {n.id for n in client.networks.list()} <= networks_before | {n.id for n in client.networks.list(names=["docker_gwbridge", "ingress"])}
    assert leftovers(client) == [] and swarm_off(client)


def test_the_signing_key_reaches_no_service_spec(tmp_path: Path, lab_copy: Path, client: docker.DockerClient) -> None:
    # Allowed by the policy, but both would take the key from `docker stack deploy`'s environment: `${...}` and a bare name.
    compose = lab_copy / "phase2" / "docker-compose.yml"
    text = compose.read_text().replace("    ports:", "    environment:\n      - ORCHLAB_SIGNING_KEY\n      - COPY=${ORCHLAB_SIGNING_KEY}\n"
                                                    "      - HOMEDIR=${HOME:-none}\n    ports:", 1)
    compose.write_text(text)
    proc, seen = start_lab_until("tasks to run", tmp_path, *STACK_ONLY, lab=lab_copy)
    try:
        services = client.services.list(filters={"label": RUN_LABEL})
        assert services, "".join(seen)
        env = services[0].attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env") or []
        limits = services[0].attrs["Spec"]["TaskTemplate"]["Resources"]["Limits"]
    finally:
        rest, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, "".join(seen) + rest
    assert sorted(env) == ["COPY=", "HOMEDIR=none"], env
    assert not any(KEY in e for e in env)
    assert limits == {"MemoryBytes": 512 << 20, "Pids": 512}, limits  # memory and processes bounded, CPU not
    assert leftovers(client) == [] and swarm_off(client)


def test_links_out_of_phase1_and_link_loops_fail_fast_and_read_nothing(pytester: pytest.Pytester, lab_copy: Path,
                                                                        client: docker.DockerClient, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret")
    (lab_copy / "phase1" / "notes.txt").symlink_to(secret)
    for n in range(3):
        (lab_copy / "phase1" / f"a{n}").symlink_to(".")  # three links that made the old copy write 14 GB
    (lab_copy / "phase1" / "up").symlink_to("..")
    began = time.monotonic()
    result, report = run_lab(pytester, lab_copy, "-m", "phase1", "-k", "image_builds or container_serves")
    assert time.monotonic() - began < 60
    build = by_id(report, "p1-image-builds")
    assert build["outcome"] == "failed" and outcomes(report)["p1-container-serves"] == "blocked", result.stdout.str()
    assert "phase1/notes.txt is a link to" in build["message"] and "phase1/up is a link to .." in build["message"]
    assert "copy the file itself instead of a link" in build["hint"]
    assert "secret" not in json.dumps(report).replace(str(secret), "") and leftovers(client) == []


FORGER = '''#!/bin/sh
# A student's python3 that prints perfect probe records instead of measuring anything.
case "$*" in
  *orchlab-pause*) exec /usr/bin/python3 -c "
import json, sys, time
n = 0
while True:
    n += 1
    rec = {'t': time.time(), 'ip': '10.0.0.%d' % (n % 5 + 2), 'n': 5, 'status': 200, 'greeting': 'Hello', 'host': 'task%d' % (n % 5)}
    print(json.dumps({**rec, 's': 0.001}), flush=True)
    time.sleep(0.02)
" ;;
  *) exec /usr/bin/python3 "$@" ;;
esac
'''


def test_a_forging_python3_in_the_students_image_changes_no_verdict(pytester: pytest.Pytester, lab_copy: Path,
                                                                     client: docker.DockerClient) -> None:
    # Every task truly refuses requests (the app listens on 5001, the lab's port is 5000); the forger would report
    # every request answered by one of five tasks.
    app = lab_copy / "phase1" / "app.py"
    app.write_text(app.read_text().replace("port=5000", "port=5001"))
    (lab_copy / "phase1" / "python3").write_text(FORGER)
    (lab_copy / "phase1" / "python3").chmod(0o755)
    dockerfile = lab_copy / "phase1" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY app.py .", "COPY app.py .\nCOPY python3 /usr/local/bin/python3"))
    result, report = run_lab(pytester, lab_copy, "-m", "phase2", "-k", "swarm_active or stack_deployed or scale_out or load_balanced")
    got = outcomes(report)
    assert got["p2-stack-deployed"] == "passed" and got["p2-load-balanced"] == "failed", result.stdout.str()
    balance = by_id(report, "p2-load-balanced")["evidence"]
    assert not balance.get("distribution") and "task0" not in json.dumps(balance)
    assert leftovers(client) == [] and swarm_off(client)


QUICK = ["-m", "phase1", "-k", "image_builds or container_serves", "--base-image", BASE_IMAGE, "--lab-lang", "en"]


def test_colliding_and_formula_ids_are_kept_apart_and_escaped(tmp_path: Path, client: docker.DockerClient) -> None:
    import shutil

    from tests.helpers import SAMPLE

    room = tmp_path / "class"
    for sid in ("Kim Lee", "Kim_Lee", '=HYPERLINK("x")'):
        shutil.copytree(SAMPLE, room / sid, ignore=shutil.ignore_patterns("variants"))
    broken = room / "Kim Lee" / "phase1" / "app.py"
    broken.write_text(broken.read_text().replace("Hello from", "Hi from"))
    out = tmp_path / "out"
    env = {**os.environ, "ORCHLAB_SIGNING_KEY": KEY}
    done = subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out), "--", *QUICK],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    folders = sorted(p.name for p in (out / "students").iterdir())
    assert len(folders) == 3 and "Kim_Lee" in folders, folders
    reports = {json.loads((out / "students" / f / "report.json").read_text())["student"]: f for f in folders}
    spaced = json.loads((out / "students" / reports["Kim Lee"] / "report.json").read_text())
    plain = json.loads((out / "students" / "Kim_Lee" / "report.json").read_text())
    assert spaced["student"] == "Kim Lee" and plain["student"] == "Kim_Lee"
    assert {c["id"]: c["outcome"] for c in spaced["checkpoints"]}["p1-container-serves"] == "failed"
    assert {c["id"]: c["outcome"] for c in plain["checkpoints"]}["p1-container-serves"] == "passed"
    with (out / "class.csv").open() as f:
        ids = [row["student"] for row in csv.DictReader(f)]
    assert "'=HYPERLINK(\"x\")" in ids and '=HYPERLINK("x")' not in ids
    # The signed report names its student: moved into another student's folder it no longer verifies.
    moved = out / "students" / "Kim_Lee" / "report.json"
    moved.write_text((out / "students" / reports["Kim Lee"] / "report.json").read_text())
    check = subprocess.run([sys.executable, "-m", "pytest_orchlab", "verify", str(moved)], capture_output=True, text=True, env=env)
    assert check.returncode == 1 and "signed for student 'Kim Lee'" in check.stdout, check.stdout
    again = subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out), "--", *QUICK],
                           capture_output=True, text=True, timeout=600, env=env)
    assert "Kim_Lee: grading again: the last report is not this student's" in again.stdout, again.stdout
    assert leftovers(client) == []
