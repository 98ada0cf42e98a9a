"""Who is in the class and where their lab folders are: a class folder, or a roster CSV."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.text import t

SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Student:
    id: str
    lab_dir: Path
    folder: str = ""  # the results folder's name when the id alone would collide with another's (see distinct)

    @property
    def slug(self) -> str:
        """The id as a folder name for the student's results (no path separators, no spaces), unique in the class."""
        return self.folder or safe_name(self.id)


def safe_name(sid: str) -> str:
    return SAFE_ID.sub("_", sid).strip("._") or "student"


def _suffixed(sid: str) -> str:
    return f"{safe_name(sid)}-{hashlib.sha256(sid.encode()).hexdigest()[:8]}"


def folder_names(sid: str) -> set[str]:
    """The results folders a student's report may sit in: their id made folder-safe, or that with their suffix."""
    return {safe_name(sid), _suffixed(sid)}


def distinct(students: Sequence[Student]) -> list[Student]:
    """Students whose folder names would collide (``Kim Lee`` and ``Kim_Lee``; ``Bob`` and ``bob`` on a case-insensitive
    disk) get distinct ones: each but an id that is its own folder name gets a suffix from its id's hash."""
    groups: dict[str, list[Student]] = {}
    for s in students:
        groups.setdefault(safe_name(s.id).lower(), []).append(s)
    out = []
    for s in students:
        group = groups[safe_name(s.id).lower()]
        plain = next((g for g in group if g.id == safe_name(g.id)), None)
        if len(group) > 1 and s is not plain:
            s = dataclasses.replace(s, folder=_suffixed(s.id))
        out.append(s)
    return out


def from_class_dir(class_dir: Path) -> list[Student]:
    """One sub-folder per student; the folder's name is the student's id (hidden folders are not students)."""
    if not class_dir.is_dir():
        raise OrchlabError(t(f"반 폴더 {class_dir} 가 없습니다.", f"the class folder {class_dir} does not exist."))
    students = distinct([Student(d.name, d.resolve()) for d in sorted(class_dir.iterdir()) if d.is_dir() and not d.name.startswith(".")])
    if not students:
        raise OrchlabError(t(f"{class_dir} 에 학생 폴더가 없습니다 (학생마다 하위 폴더 하나).",
                             f"{class_dir} holds no student folders (one sub-folder per student)."))
    return students


def from_roster(roster: Path) -> list[Student]:
    """A CSV with the columns ``student`` (or ``id``) and ``lab_dir`` (or ``path``); relative paths are from the CSV's folder."""
    try:
        rows = list(csv.DictReader(roster.open(newline="", encoding="utf-8-sig")))
    except OSError as exc:
        raise OrchlabError(t(f"명단 {roster} 를 읽을 수 없습니다: {exc}", f"cannot read the roster {roster}: {exc}")) from None
    students, problems = [], []
    for n, row in enumerate(rows, start=2):
        sid = (row.get("student") or row.get("id") or "").strip()
        path = (row.get("lab_dir") or row.get("path") or "").strip()
        if not sid or not path:
            problems.append(f"line {n}")
            continue
        folder = Path(path) if Path(path).is_absolute() else roster.parent / path
        students.append(Student(sid, folder.resolve()))
    if problems or not students:
        raise OrchlabError(t(f"명단 {roster}: student 와 lab_dir 열이 필요합니다 ({', '.join(problems) or '행 없음'}).",
                             f"roster {roster}: every row needs the columns student and lab_dir ({', '.join(problems) or 'no rows'})."))
    ids = [s.id for s in students]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise OrchlabError(t(f"명단 {roster}: 같은 학생이 두 번 있습니다: {', '.join(twice)}", f"roster {roster}: listed twice: {', '.join(twice)}"))
    return distinct(students)
