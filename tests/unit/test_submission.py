"""The intake gate: a bounded, confined snapshot of a student's folder; links, caps, text and the names students save."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from pytest_orchlab.core.errors import LabInputError
from pytest_orchlab.core.text import t
from pytest_orchlab.submission.snapshot import Caps, take
from pytest_orchlab.submission.textfile import decode
from tests.helpers import SAMPLE

STEP = t("단계", "the step")


def lab(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("variants"))
    return root


def refused(sub_problems: dict[str, list[object]], phase: str) -> str:
    return " | ".join(r.render("en") for r in sub_problems.get(phase, []))  # type: ignore[attr-defined]


def test_the_course_folder_passes_whole_and_its_digest_is_its_content(tmp_path: Path) -> None:
    sub = take(lab(tmp_path))
    assert sorted(sub.entries) == ["phase1/Dockerfile", "phase1/app.py", "phase2/docker-compose.yml"]
    assert not any(sub.problems.values())
    again = take(lab(tmp_path / "again"))
    assert again.digest == sub.digest  # the same files, wherever they are
    (tmp_path / "again" / "lab" / "phase1" / "app.py").write_text("changed")
    assert take(tmp_path / "again" / "lab").digest != sub.digest
    folder = sub.write(tmp_path / "snapshot")
    assert folder.source == (tmp_path / "lab").resolve() and folder.digest == sub.digest
    assert (folder.root / "phase1" / "app.py").read_bytes() == (SAMPLE / "phase1" / "app.py").read_bytes()
    folder.require(folder.app_py, folder.dockerfile, step=STEP)


def test_a_link_out_of_its_phase_folder_is_refused_and_nothing_of_it_is_read(tmp_path: Path) -> None:
    root = lab(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("the grader's key")
    (root / "phase1" / "notes.txt").symlink_to(secret)
    (root / "phase1" / "up").symlink_to("..")
    (root / "phase1" / "abs").symlink_to("/etc")
    sub = take(root)
    said = refused(sub.problems, "phase1")
    assert "phase1/notes.txt is a link to" in said and "outside phase1/" in said
    assert "phase1/up is a link to .." in said and "phase1/abs is a link to /etc" in said
    assert all(b"grader" not in (e.data or b"") for e in sub.entries.values())
    folder = sub.write(tmp_path / "snap")
    with pytest.raises(LabInputError, match="links out of a phase folder are refused"):
        folder.require(folder.app_py, folder.dockerfile, step=STEP)
    folder.require(folder.compose_file, step=STEP)  # phase2 is untouched by phase1's problem


def test_links_inside_the_phase_folder_are_kept_as_links_and_loops_end_at_once(tmp_path: Path) -> None:
    root = lab(tmp_path)
    (root / "phase1" / "same.py").symlink_to("app.py")
    (root / "phase1" / "here").symlink_to(".")
    for n in range(3):  # the links that made a copy recurse until the disk was full
        (root / "phase1" / f"loop{n}").symlink_to(f"loop{(n + 1) % 3}")
    (root / "phase1" / "dangling").symlink_to("nowhere")
    began = time.monotonic()
    sub = take(root)
    assert time.monotonic() - began < 2
    assert sub.entries["phase1/same.py"].link == "app.py" and sub.entries["phase1/here"].link == "."
    said = refused(sub.problems, "phase1")
    assert "phase1/loop0 is a link to loop1 that leads nowhere (dangling, or a loop)" in said
    assert "phase1/dangling is a link to nowhere that leads nowhere" in said
    snap = sub.write(tmp_path / "snap")
    assert os.readlink(snap.root / "phase1" / "here") == "."


def test_a_phase_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    (root / "phase1").symlink_to(SAMPLE / "phase1")
    sub = take(root)
    assert "is a link to" in refused(sub.problems, "phase1") and not sub.entries


def test_devices_fifos_and_hard_links_are_refused(tmp_path: Path) -> None:
    root = lab(tmp_path)
    os.mkfifo(root / "phase1" / "pipe")
    os.link(root / "phase1" / "app.py", root / "phase1" / "hard.py")
    began = time.monotonic()
    sub = take(root)
    assert time.monotonic() - began < 2  # a FIFO is never opened for reading
    said = refused(sub.problems, "phase1")
    assert "phase1/pipe is not a regular file" in said and "is a hard link" in said


def test_caps_name_the_biggest_entries_and_dockerignore_is_applied_first(tmp_path: Path) -> None:
    root = lab(tmp_path)
    venv = root / "phase1" / "venv"
    venv.mkdir()
    for n in range(30):
        (venv / f"m{n}.py").write_bytes(b"x" * 1000)
    small = Caps(files=20, total_bytes=200_000)
    said = refused(take(root, small).problems, "phase1")
    assert "more than the caps (20 files" in said and "phase1/venv (29 KB in 30 files)" in said
    (root / "phase1" / ".dockerignore").write_text("# the build does not need it\nvenv\n")
    sub = take(root, small)
    assert not any(sub.problems.values()) and "phase1/venv/ (.dockerignore)" in sub.ignored
    (root / "phase1" / "big.bin").write_bytes(b"\0" * 3000)
    assert "phase1/big.bin is 3 KB, more than the 2 KB a file may have" in refused(take(root, Caps(file_bytes=2048)).problems, "phase1")


def test_git_caches_junk_and_other_folders_are_left_out_and_said(tmp_path: Path) -> None:
    root = lab(tmp_path)
    (root / "phase1" / ".git").mkdir()
    (root / "phase1" / ".git" / "config").write_text("x")
    (root / "phase1" / "__pycache__").mkdir()
    (root / "phase1" / ".DS_Store").write_text("x")
    (root / "__MACOSX").mkdir()
    (root / "README.md").write_text("notes")
    (root / "phase2" / "notes.txt").write_text("x")
    sub = take(root)
    assert sorted(sub.entries) == ["phase1/Dockerfile", "phase1/app.py", "phase2/docker-compose.yml"]
    assert "README.md (the lab reads phase1/, phase2/ and phase3/)" in sub.ignored
    assert "phase2/notes.txt (the lab reads only the YAML files of phase2/)" in sub.ignored
    assert not any("__MACOSX" in line for line in sub.ignored)


def test_many_entries_or_a_slow_read_stop_the_walk(tmp_path: Path) -> None:
    root = lab(tmp_path)
    for n in range(50):
        (root / "phase1" / f"f{n}").write_text("x")
    assert "more than 20 entries" in refused(take(root, Caps(entries=20)).problems, "phase1")
    assert "reading took more than 0 s" in refused(take(root, Caps(seconds=0)).problems, "phase1")


def test_text_is_utf8_with_or_without_a_bom_and_crlf_reads_as_lf() -> None:
    assert decode(b"\xef\xbb\xbfservices:\r\n  web: {}\r\n", "c.yml") == "services:\n  web: {}\n"
    bad = decode("services:\n  web:\n    image: caf\xe9\n".encode("latin-1"), "phase2/docker-compose.yml")
    assert not isinstance(bad, str)
    assert bad.line == 3 and "byte 0xE9 at offset" in bad.render("en") and "save it as UTF-8" in bad.render("en")


def test_a_missing_lab_folder_is_one_clear_failure(tmp_path: Path) -> None:
    folder = take(tmp_path / "nope").write(tmp_path / "snap")
    with pytest.raises(LabInputError, match="does not exist"):
        folder.require(folder.app_py, step=STEP)
