"""A class folder as it arrives: folders, nested labs, zips and tarballs (extracted safely), Classroom clones, LMS files, junk."""

from __future__ import annotations

import csv
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.grading.intake import find_labs, id_pattern, intake_csv, students
from pytest_orchlab.submission.archive import Unsafe, extract
from tests.helpers import SAMPLE


def copy_lab(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("variants"))
    return dest


def zip_of(lab: Path, path: Path, prefix: str = "orchestration-lab/", junk: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(lab.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(lab).as_posix())
        if junk:
            zf.writestr("__MACOSX/orchestration-lab/._app.py", b"\0")
            zf.writestr(prefix + ".DS_Store", b"\0")
    return path


def test_every_kind_of_submission_is_found_and_junk_is_nobody(tmp_path: Path) -> None:
    room = tmp_path / "class"
    copy_lab(room / "alice")
    copy_lab(room / "bob" / "orchestration-lab")  # one level deeper, as zips and Classroom repos often are
    lab = copy_lab(tmp_path / "carol-lab")
    zip_of(lab, room / "carol.zip")
    with tarfile.open(room / "dan.tar.gz", "w:gz") as tf:
        tf.add(lab, arcname="lab")
    copy_lab(room / "orchestration-lab-erin")
    copy_lab(room / "fay")
    zip_of(lab, room / "fay.zip")  # two submissions of one student
    zipfile.ZipFile(room / "gus.zip", "w").close()  # an empty zip
    (room / "hana").mkdir()
    (room / "hana" / "notes.txt").write_text("I did not finish")
    (room / "__MACOSX").mkdir()
    (room / ".DS_Store").write_text("")
    (room / "Thumbs.db").write_text("")
    found, nobody = find_labs(room, tmp_path / "work", id_pattern(r"^(?:orchestration-lab-)?(?P<id>.+)$"))
    by = {f.student: f for f in found}
    assert sorted(by) == ["alice", "bob", "carol", "dan", "erin", "fay", "gus", "hana"], nobody
    assert by["alice"].lab_dir == room / "alice" and by["bob"].lab_dir == room / "bob" / "orchestration-lab"
    assert by["carol"].source == "zip" and (by["carol"].lab_dir / "phase1" / "app.py").is_file()  # type: ignore[operator]
    assert by["dan"].source == "tar.gz" and by["erin"].lab_dir == room / "orchestration-lab-erin"
    assert by["fay"].status == "not-gradable" and "fay" in by["fay"].reason and "fay.zip" in by["fay"].reason
    assert by["gus"].status == "failed" and "gus.zip is empty" in by["gus"].reason
    assert by["hana"].status == "failed" and "no lab folder" in by["hana"].reason and "notes.txt" in by["hana"].reason
    assert not (by["carol"].lab_dir / "__MACOSX").exists() and nobody == []  # type: ignore[operator]
    assert [s.id for s in students(found)] == ["alice", "bob", "carol", "dan", "erin"]
    rows = list(csv.DictReader(io.StringIO(intake_csv(found, nobody, room))))
    assert {r["student"]: r["status"] for r in rows} == {s: by[s].status for s in by}
    assert next(r for r in rows if r["student"] == "bob")["lab_dir"] == "bob/orchestration-lab"


def test_a_zip_that_writes_outside_its_folder_or_holds_a_link_writes_nothing(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("lab/phase1/app.py", "print(1)")
        zf.writestr("../../outside.txt", "pwned")
    with pytest.raises(Unsafe, match="outside the archive's folder"):
        extract(evil, tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "outside.txt").exists()
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("lab/phase1/app.py")
        info.external_attr = (0o120777 << 16)  # a symlink entry
        zf.writestr(info, "/etc/shadow")
    with pytest.raises(Unsafe, match="is a link"):
        extract(link, tmp_path / "y")
    tar = tmp_path / "t.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        member = tarfile.TarInfo("lab/phase1/shadow")
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tf.addfile(member)
    with pytest.raises(Unsafe, match="is a link"):
        extract(tar, tmp_path / "z")


def test_a_zip_bomb_stops_at_the_cap_before_writing(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n in range(5):
            zf.writestr(f"lab/phase1/f{n}", b"\0" * (5 * 1024 * 1024))
    with pytest.raises(Unsafe, match="more than 20.0 MB"):
        extract(bomb, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_lms_export_files_name_their_student(tmp_path: Path) -> None:
    room = tmp_path / "canvas"
    room.mkdir()
    for name in ("app.py", "Dockerfile"):
        shutil.copy(SAMPLE / "phase1" / name, room / f"kimminji_12345_67890_{name}")
    shutil.copy(SAMPLE / "phase2" / "docker-compose.yml", room / "kimminji_12345_67890_docker-compose.yml")
    zip_of(copy_lab(tmp_path / "lee"), room / "leejun_LATE_222_333_lab.zip")
    (room / "readme.txt").write_text("x")
    found, nobody = find_labs(room, tmp_path / "work")
    by = {f.student: f for f in found}
    assert sorted(by) == ["kimminji", "leejun"] and nobody == ["readme.txt (a file that names no student)"]
    kim = by["kimminji"].lab_dir
    assert kim is not None and (kim / "phase1" / "Dockerfile").is_file() and (kim / "phase2" / "docker-compose.yml").is_file()
    assert by["leejun"].source == "zip" and by["leejun"].status == "ok"


def test_a_bad_id_pattern_is_a_clear_error() -> None:
    with pytest.raises(OrchlabError, match="named group"):
        id_pattern("^lab-(.+)$")
    with pytest.raises(OrchlabError, match="not a regular expression"):
        id_pattern("(")


def test_the_lab_files_as_students_save_them(tmp_path: Path) -> None:
    from pytest_orchlab.core.text import t
    from pytest_orchlab.submission.snapshot import take

    lab = copy_lab(tmp_path / "lab")
    (lab / "phase2" / "docker-compose.yml").rename(lab / "phase2" / "compose.yaml")
    (lab / "phase1" / "Dockerfile").rename(lab / "phase1" / "dockerfile")
    folder = take(lab).write(tmp_path / "snap")
    assert folder.compose_file.name == "compose.yaml" and folder.dockerfile.name == "dockerfile"
    folder.require(folder.app_py, folder.dockerfile, folder.compose_file, step=t("s", "s"))
    (lab / "phase2" / "compose.yaml").rename(lab / "phase2" / "docker_compose.yml")
    (lab / "phase1" / "app.py").rename(lab / "phase1" / "app.py.txt")
    folder = take(lab).write(tmp_path / "snap2")
    with pytest.raises(OrchlabError) as err:
        folder.require(folder.compose_file, step=t("s", "s"))
    assert "There is phase2/docker_compose.yml: the lab step names it phase2/docker-compose.yml" in err.value.text.en
    with pytest.raises(OrchlabError) as err:
        folder.require(folder.app_py, step=t("s", "s"))
    assert "There is phase1/app.py.txt: the lab step names it phase1/app.py" in err.value.text.en
    shutil.copy(SAMPLE / "phase2" / "docker-compose.yml", lab / "phase2" / "compose.yml")
    shutil.copy(SAMPLE / "phase2" / "docker-compose.yml", lab / "phase2" / "docker-compose.yml")
    folder = take(lab).write(tmp_path / "snap3")
    with pytest.raises(OrchlabError, match="holds two files for one role"):
        folder.require(folder.compose_file, step=t("s", "s"))


def test_a_dockerfile_in_the_labs_top_folder_is_named_in_the_hint(tmp_path: Path) -> None:
    from pytest_orchlab.core.text import t
    from pytest_orchlab.submission.snapshot import take

    lab = copy_lab(tmp_path / "lab")
    (lab / "phase1" / "Dockerfile").rename(lab / "Dockerfile")
    folder = take(lab).write(tmp_path / "snap")
    with pytest.raises(OrchlabError) as err:
        folder.require(folder.dockerfile, step=t("s", "s"))
    assert "There is Dockerfile: the lab step names it phase1/Dockerfile" in err.value.text.en
