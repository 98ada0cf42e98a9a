"""Helpers shared by pytest-orchlab's own tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import docker
import pytest

from pytest_orchlab.docker.engine import RUN_LABEL

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_app"
CHECKPOINTS = ROOT / "checkpoints"
BASE_IMAGE = "orchlab/python-base:bookworm"


def run_lab(pytester: pytest.Pytester, lab: Path, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run the lab suite in a subprocess, exactly as a student would, and load its JSON report."""
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        str(CHECKPOINTS), "--lab-dir", str(lab), "--base-image", BASE_IMAGE, "--lab-lang", "en",
        "--lab-report", str(report), "-p", "no:cacheprovider", *args,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return result, data


def start_lab_until(marker: str, cwd: Path, *args: str, timeout: float = 300, lab: Path = SAMPLE) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the lab suite on ``lab`` (sample_app) as a student would and read its output until a line holds ``marker``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(CHECKPOINTS), "--lab-dir", str(lab), "--base-image", BASE_IMAGE,
         "-p", "no:cacheprovider", "--lab-lang", "en", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return proc, seen
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"the run ended before {marker!r}:\n" + "".join(seen))


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in report.get("checkpoints", [])}


def by_id(report: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in report["checkpoints"] if c["id"] == cid)


def leftovers(client: docker.DockerClient) -> list[str]:
    """Everything on the engine that carries an orchlab.run label (a finished run must leave none)."""
    flt = {"label": RUN_LABEL}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
    found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    found += [f"image {i.short_id}" for i in client.images.list(filters=flt)]
    swarm = client.info()["Swarm"]
    if swarm["LocalNodeState"] == "active" and swarm.get("ControlAvailable"):
        found += [f"service {s.name}" for s in client.services.list(filters=flt)]
    return found


def crashed_run(run_id: str) -> str:
    """A run that took its lock and was then killed with SIGKILL (no cleanup of its own): its lock file stays, unheld."""
    code = ("import sys, time; from pytest_orchlab.core.runs import RunLock; RunLock(sys.argv[1]).__enter__(); "
            "print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, run_id], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait()
    return run_id


def student_image(client: docker.DockerClient, tmp_path: Path) -> tuple[str, str]:
    """The student's own simple-web:v1 under a tag of the test's own (so no simple-web image already here is touched)."""
    tag = f"orchlab-test-student/simple-web:v1-{os.getpid()}"
    context = tmp_path / "build"
    context.mkdir()
    (context / "app.py").write_text((SAMPLE / "phase1" / "app.py").read_text())
    (context / "Dockerfile").write_text((SAMPLE / "phase1" / "Dockerfile").read_text().replace("python:3.9-slim", BASE_IMAGE))
    image, _ = client.images.build(path=str(context), tag=tag, rm=True)
    return tag, str(image.id)


def class_folder(room: Path) -> Path:
    """A class of six: the reference, its healthcheck variant, and four broken labs (as in test_phase1_lab)."""
    import shutil

    for sid, source in (("alice", SAMPLE), ("bora", SAMPLE / "variants" / "healthcheck"), ("chul", SAMPLE),
                        ("dana", SAMPLE), ("eun", SAMPLE), ("finn", SAMPLE)):
        shutil.copytree(source, room / sid, ignore=shutil.ignore_patterns("variants", "__pycache__"))
    app = room / "chul" / "phase1" / "app.py"
    app.write_text(app.read_text().replace("Hello from", "Hi from"))
    dockerfile = room / "dana" / "phase1" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("RUN pip install flask", "RUN pip install flask && exit 3"))
    shutil.rmtree(room / "eun" / "phase1")
    return room


def class_of_twelve(room: Path) -> Path:
    """The benchmark's class: the six of :func:`class_folder` and six more (the reference, the healthcheck variant,
    a compose file with a typo in a key, one that does not parse, a wrong replica count, the reference again)."""
    import shutil

    class_folder(room)
    for sid, source in (("gus", SAMPLE), ("hana", SAMPLE / "variants" / "healthcheck"), ("ivan", SAMPLE), ("jun", SAMPLE),
                        ("kai", SAMPLE), ("lea", SAMPLE)):
        shutil.copytree(source, room / sid, ignore=shutil.ignore_patterns("variants", "__pycache__"))
    for sid, old, new in (("ivan", "parallelism: 1", "paralelism: 1"), ("jun", "    deploy:\n", "    deploy\n"), ("kai", "replicas: 3", "replicas: 2")):
        compose = room / sid / "phase2" / "docker-compose.yml"
        compose.write_text(compose.read_text().replace(old, new))
    return room


CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0")


def browse(page: Path, screenshot: Path, height: int = 4200) -> tuple[str, list[str]]:
    """Open ``page`` in headless Chromium (Debian's, as CI installs it): its DOM as the browser built it, the console's
    error lines, and a full-width screenshot."""
    import shutil
    import tempfile

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is needed for this test: apt-get install chromium (.ci/run installs it)"
    with tempfile.TemporaryDirectory(prefix="orchlab-browser-") as profile:
        common = [binary, *CHROMIUM, f"--user-data-dir={profile}"]
        dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
        shot = subprocess.run([*common, f"--window-size=1000,{height}", f"--screenshot={screenshot}", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
    console = [line for line in (dom.stderr + shot.stderr).splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return dom.stdout, console


_REMOTE_CSS = re.compile(r"(url\(|@import)\s*['\"]?\s*(https?:|//)")


class _Fetches(HTMLParser):
    """Every element that runs code or that a browser would fetch from elsewhere (a link to follow is neither)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            url = (value or "").strip().lower()
            remote = url.startswith(("http:", "https:", "//", "ftp:", "ws:", "wss:"))
            if name.startswith("on") or (remote and name in ("href", "src", "xlink:href", "action", "srcset", "poster") and tag != "a"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and _REMOTE_CSS.search(url):
                self.found.append(f"<{tag} style={value!r}>")

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style" and _REMOTE_CSS.search(data.lower()):
            self.found.append("<style> fetches a URL")


def fetches(page: str) -> list[str]:
    """What of ``page`` would run code or load something from elsewhere. Text is not: a student's log line that reads
    " * Running on http://127.0.0.1:5000" is escaped text on the page, not a fetch."""
    parser = _Fetches()
    parser.feed(page)
    parser.close()
    return parser.found
