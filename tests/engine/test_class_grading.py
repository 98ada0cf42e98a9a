"""``orchlab grade`` on a real engine: a class of six labs, every file written, a crashed run, resume, signatures."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker

from tests import formats_spec as spec
from tests.helpers import BASE_IMAGE, CHECKPOINTS, by_id, class_folder, leftovers, start_lab_until

KEY = "orchlab-test-course-key"
# Phase 1's first two checkpoints: the build and the greeting, where these broken labs differ (seconds, not minutes).
QUICK = ["-m", "phase1", "-k", "image_builds or container_serves", "--base-image", BASE_IMAGE, "--lab-lang", "en"]
FORMATS = ["gradescope", "classroom", "prairielearn", "junit", "markdown"]


def _grade(room: Path, out: Path, *extra: str, kill: str | None = None) -> tuple[int, str]:
    """Run ``orchlab grade`` as a teacher would; with ``kill``, SIGKILL that student's pytest once it started."""
    argv = [sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out), *extra,
            *(a for f in FORMATS for a in ("--format", f)), "--", *QUICK]
    env = {**os.environ, "ORCHLAB_SIGNING_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if kill is not None:
        target = str(room / kill)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            found = subprocess.run(["pgrep", "-f", "--", f"--lab-dir {target} "], capture_output=True, text=True).stdout.split()
            if found:
                time.sleep(2)  # well inside the run: the engine has its resources
                for pid in found:
                    os.kill(int(pid), signal.SIGKILL)  # as the OOM killer would
                break
            time.sleep(0.2)
    out_text, _ = proc.communicate(timeout=900)
    return proc.returncode, out_text


def _csv(out: Path) -> dict[str, dict[str, str]]:
    with (out / "class.csv").open() as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def _report(out: Path, sid: str) -> dict[str, Any]:
    return dict(json.loads((out / "students" / sid / "report.json").read_text()))


def test_a_class_is_graded_with_a_crash_recorded_and_resumed(tmp_path: Path, client: docker.DockerClient) -> None:
    room, out = class_folder(tmp_path / "class"), tmp_path / "out"
    code, said = _grade(room, out, kill="bora")
    assert code == 0, said
    assert "[6/6]" in said and "elapsed" in said and "left" in said, said
    rows = _csv(out)
    assert list(rows) == ["alice", "bora", "chul", "dana", "eun", "finn"]
    assert rows["bora"]["status"] == "crashed" and rows["bora"]["score"] == "", said
    crash = json.loads((out / "students" / "bora" / "crash.json").read_text())
    assert crash["exit_code"] == -signal.SIGKILL and "wrote no report" in crash["reason"]
    expected = {"alice": ("passed", "passed"), "chul": ("passed", "failed"), "dana": ("failed", "blocked"),
                "eun": ("failed", "blocked"), "finn": ("passed", "passed")}
    for sid, (builds, serves) in expected.items():
        report = _report(out, sid)
        got = {cp["id"]: cp["outcome"] for cp in report["checkpoints"]}
        assert got == {"p1-image-builds": builds, "p1-container-serves": serves}, (sid, said)
        # The CSV says exactly what each student's own report says.
        assert {k: rows[sid][k] for k in got} == got and rows[sid]["score"] == f"{report['score']['earned']:g}"
        assert rows[sid]["max"] == str(report["score"]["possible"]) and rows[sid]["status"] == "graded"
        folder = out / "students" / sid
        # Each format of a real run is what its platform reads (tests/formats_spec.py cites the published formats).
        assert spec.gradescope(json.loads((folder / "gradescope-results.json").read_text())) == [], sid
        assert spec.classroom(json.loads((folder / "classroom-results.json").read_text())) == [], sid
        assert spec.prairielearn(json.loads((folder / "prairielearn-results.json").read_text())) == [], sid
        bad, cases = spec.junit((folder / "junit.xml").read_text())
        assert bad == [] and {k: v["orchlab_outcome"] for k, v in cases.items()} == got, sid
        assert (folder / "summary.md").read_text().startswith(f"### orchlab: {report['score']['earned']:g}/2 points"), sid
        assert report["signature"]["algorithm"] == "HMAC-SHA256" and report["engine"]["id"] and report["run_id"]
    md = (out / "class.md").read_text()
    assert "| `p1-image-builds` | 3 | 2 | 0 | 0 | 60 % |" in md and "bora" in md and "Most frequent failure hints" in md
    assert (out / "class.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert leftovers(client) == []

    # The crashed run's resources were swept by the next student's run; nothing is left.
    # A report edited by hand fails verification; resume then grades that student again, and the crashed one.
    verify = subprocess.run([sys.executable, "-m", "pytest_orchlab", "verify", str(out / "students" / "alice" / "report.json")],
                            capture_output=True, text=True, env={**os.environ, "ORCHLAB_SIGNING_KEY": KEY})
    assert verify.returncode == 0 and "valid" in verify.stdout
    forged = out / "students" / "chul" / "report.json"
    data = json.loads(forged.read_text())
    data["checkpoints"][1]["outcome"] = "passed"
    forged.write_text(json.dumps(data))
    verify = subprocess.run([sys.executable, "-m", "pytest_orchlab", "verify", str(forged)],
                            capture_output=True, text=True, env={**os.environ, "ORCHLAB_SIGNING_KEY": KEY})
    assert verify.returncode == 1 and "changed checkpoints[1].outcome" in verify.stdout
    first_alice = _report(out, "alice")["run_id"]
    code, said = _grade(room, out)
    assert code == 0, said
    assert said.count("(already graded, kept)") == 4, said  # alice, dana, eun, finn
    assert "chul: grading again: the last report failed verification" in said
    rows = _csv(out)
    assert rows["bora"]["status"] == "graded" and rows["bora"]["p1-container-serves"] == "passed"
    assert rows["chul"]["p1-container-serves"] == "failed" and _report(out, "alice")["run_id"] == first_alice
    assert leftovers(client) == []


PARALLEL = ["-m", "phase1 or phase2", "-k", ("image_builds or container_serves or kill_outage or manual_recovery"
                           " or swarm_active or stack_deployed or scale_out or load_balanced"),
            "--base-image", BASE_IMAGE, "--lab-lang", "en"]


def test_jobs_auto_on_one_engine_gives_the_serial_verdicts(tmp_path: Path, client: docker.DockerClient) -> None:
    room = class_folder(tmp_path / "class")
    for sid in ("dana", "eun", "finn"):
        shutil.rmtree(room / sid)
    runs, said = {}, {}
    for jobs in ("1", "auto"):
        out = tmp_path / f"out-{jobs}"
        done = subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out), "--jobs", jobs, "--", *PARALLEL],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        said[jobs] = done.stdout
        runs[jobs] = {sid: {cp["id"]: (cp["outcome"], cp["earned"]) for cp in _report(out, sid)["checkpoints"]} for sid in ("alice", "bora", "chul")}
    assert runs["auto"] == runs["1"], runs
    # On two cores: bora's healthcheck lab (81 % of a core) beside the two plain ones (38 % each) fits 160 %: all three at once.
    assert "with 3 job(s)" in said["auto"], said["auto"]
    assert runs["1"]["alice"]["p2-swarm-active"] == ("passed", 0)  # orchlab made the swarm in both: no points either way
    assert runs["1"]["chul"]["p1-container-serves"][0] == "failed" and runs["1"]["alice"]["p2-load-balanced"][0] == "passed"
    # The schedule: every student's Phase 1 (with its CPU sweep) before any student's Phase 2, one report each.
    plan = {r["student"]: r["schedule"] for r in json.loads((tmp_path / "out-auto" / "class.json").read_text())}
    assert min(p["phase2_s"][0] for p in plan.values()) >= max(p["phase1_s"][1] for p in plan.values()), plan
    assert all(p["phase2_waited_s"] < 5 for p in plan.values()), plan  # nobody waited for room
    parallel = _report(tmp_path / "out-auto", "alice")
    assert len(parallel["sessions"]) == 2 and parallel["sessions"][-1] == parallel["run_id"]
    deployed = next(cp for cp in parallel["checkpoints"] if cp["id"] == "p2-stack-deployed")
    assert deployed["evidence"]["ports"] == [[8080, 5000]], deployed  # judged as the student wrote it, published elsewhere
    assert leftovers(client) == [] and client.info()["Swarm"]["LocalNodeState"] == "inactive"


def test_a_sweep_waits_until_no_other_run_s_stack_runs_a_healthcheck(tmp_path: Path, client: docker.DockerClient) -> None:
    # Measured here: five idle tasks checked every second pulled another run's sweep from 95 % to 78-87 %.
    room = class_folder(tmp_path / "class")
    checked, plain = room / "bora", room / "alice"  # the healthcheck variant, the course's files
    first, seen = start_lab_until("docker stack deploy", tmp_path, "-m", "phase2", "-k", "swarm_active or stack_deployed or scale_out or self_healing",
                                  "--lab-instance", "g1", "--lab-report", str(tmp_path / "first.json"), lab=checked)
    second = subprocess.run([sys.executable, "-m", "pytest", str(CHECKPOINTS), "--lab-dir", str(plain), "--base-image", BASE_IMAGE, "--lab-lang", "en",
                             "-p", "no:cacheprovider", "-m", "phase1", "-k", "image_builds or container_serves or cpu_saturation",
                             "--lab-instance", "g2", "--lab-report", str(tmp_path / "second.json")],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    rest, _ = first.communicate(timeout=600)
    said = "".join(seen) + rest
    assert first.returncode == 0, said
    assert "waiting until no other run's stack runs a healthcheck" in second.stdout, second.stdout
    stack_run = json.loads((tmp_path / "first.json").read_text())
    assert {cp["outcome"] for cp in stack_run["checkpoints"]} == {"passed"}, stack_run["checkpoints"]
    sweep = by_id(json.loads((tmp_path / "second.json").read_text()), "p1-cpu-saturation")
    assert sweep["outcome"] == "passed", sweep
    assert sweep["evidence"]["waited_for_machine_s"] >= 5, sweep["evidence"]  # the stack's scale-out and self-healing
    assert leftovers(client) == []


def test_an_empty_class_folder_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(tmp_path / "class"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "holds no student folders" in done.stderr and "Traceback" not in done.stderr


def test_a_class_folder_as_it_arrives_is_graded_student_by_student(tmp_path: Path, client: docker.DockerClient) -> None:
    import tarfile
    import zipfile

    from tests.helpers import SAMPLE

    room = tmp_path / "class"

    def lab(dest: Path, greeting: str = "Hello from") -> Path:
        shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("variants"))
        app = dest / "phase1" / "app.py"
        app.write_text(app.read_text().replace("Hello from", greeting))
        return dest

    lab(room / "alice")
    lab(room / "bob" / "orchestration-lab", "Hi from")  # nested one level, and a wrong greeting: bob's own files
    carol = lab(tmp_path / "carol-src")
    with zipfile.ZipFile(room / "carol.zip", "w") as zf:
        for f in sorted(carol.rglob("*")):
            if f.is_file():
                zf.write(f, "orchestration-lab/" + f.relative_to(carol).as_posix())
        zf.writestr("__MACOSX/orchestration-lab/._app.py", b"\0")
    with tarfile.open(room / "dan.tar.gz", "w:gz") as tf:
        tf.add(lab(tmp_path / "dan-src"), arcname="lab")
    lab(room / "orchestration-lab-erin")
    lab(room / "fay")
    shutil.copy(room / "carol.zip", room / "fay.zip")  # two submissions of one student
    zipfile.ZipFile(room / "gus.zip", "w").close()
    with zipfile.ZipFile(room / "hal.zip", "w") as zf:
        zf.writestr("../../escaped.txt", "x")
    (room / "__MACOSX").mkdir()
    (room / ".DS_Store").write_text("")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "pytest_orchlab", "grade", str(room), "--out", str(out),
                           "--id-pattern", r"^(?:orchestration-lab-)?(?P<id>.+)$", "--", *QUICK], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _csv(out)
    assert list(rows) == ["alice", "bob", "carol", "dan", "erin", "fay", "gus", "hal"], done.stdout
    served = {sid: rows[sid]["p1-container-serves"] for sid in ("alice", "bob", "carol", "dan", "erin")}
    assert served == {"alice": "passed", "bob": "failed", "carol": "passed", "dan": "passed", "erin": "passed"}, served
    assert (rows["fay"]["status"], rows["gus"]["status"], rows["hal"]["status"]) == ("not-gradable", "failed", "failed")
    assert not (tmp_path / "escaped.txt").exists() and not (out / "escaped.txt").exists()
    intake = {r["student"]: r for r in csv.DictReader((out / "intake.csv").open())}
    assert intake["bob"]["lab_dir"] == "bob/orchestration-lab" and intake["carol"]["source"] == "zip"
    assert "fay.zip" in intake["fay"]["reason"] and "gus.zip is empty" in intake["gus"]["reason"]
    assert "outside the archive's folder" in intake["hal"]["reason"]
    assert _report(out, "bob")["submission"]["source"].endswith("bob/orchestration-lab")  # graded on bob's own files
    assert "__MACOSX" not in rows and "Submissions not graded" in (out / "class.md").read_text()
    assert leftovers(client) == []
