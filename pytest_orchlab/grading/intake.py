"""Finding each student's lab in a class folder as submissions really arrive.

A folder per student (the lab at its top or at most two levels below: ``bob/orchestration-lab/``), a ``.zip`` or
``.tar.gz`` per student (extracted safely, see :mod:`pytest_orchlab.submission.archive`), a GitHub Classroom clone
(``orchestration-lab-bob``, with ``--id-pattern``), or the files of an LMS export whose names carry the student
(Canvas ``kimminji_12345_67890_app.py``, Blackboard ``Lab_kim01_attempt_2026-12-01-10-00-00_app.py``). Exactly one
lab per student: none is a failed row that says what was found, two are a not-gradable row naming both (an
instructor decides); archiver junk and hidden entries are never students. ``intake.csv`` says what was used.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pytest_orchlab.core.errors import OrchlabError
from pytest_orchlab.core.labdir import COMPOSE_FILES, DOCKERFILES, is_junk, looks_like_lab
from pytest_orchlab.core.text import t
from pytest_orchlab.grading.roster import Student, distinct, safe_name
from pytest_orchlab.submission.archive import Unsafe, archive_stem, extract

DEPTH = 2  # how far below a student's folder (or archive) the lab may sit
# File names of LMS exports: (name, pattern with the groups id and file). Tried in order when no --id-pattern is given.
LMS_FILES = (
    ("Canvas", re.compile(r"^(?P<id>[A-Za-z][A-Za-z0-9]*?)(?:_LATE)?_\d+_\d+_(?P<file>.+)$")),
    ("Blackboard", re.compile(r"^.+?_(?P<id>[^_]+)_attempt_\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}(?:_(?P<file>.+))?$")),
)
PHASE1_FILES = (*DOCKERFILES, "app.py", ".dockerignore", "requirements.txt")


def id_pattern(text: str | None) -> re.Pattern[str] | None:
    """``--id-pattern``: a regular expression with a named group ``id`` (and, for LMS files, ``file``)."""
    if not text:
        return None
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise OrchlabError(t(f"--id-pattern 이 정규식이 아닙니다: {exc}", f"--id-pattern is not a regular expression: {exc}")) from None
    if "id" not in pattern.groupindex:
        raise OrchlabError(t("--id-pattern 에는 이름 있는 그룹 (?P<id>...) 이 있어야 합니다.", "--id-pattern needs a named group (?P<id>...)."))
    return pattern


@dataclass
class Found:
    """One student of the class folder as the intake saw them."""

    student: str
    source: str  # folder | zip | tar.gz | files
    origins: list[str] = field(default_factory=list)  # entries of the class folder that are this student's
    lab_dir: Path | None = None
    status: str = "ok"  # ok | failed | not-gradable
    reason: str = ""
    ignored: list[str] = field(default_factory=list)


def lab_candidates(root: Path, depth: int = DEPTH) -> list[Path]:
    """Lab folders (``phase1/`` or ``phase2/`` inside) at ``root`` or up to ``depth`` levels below; links never followed."""
    if looks_like_lab(root):
        return [root]
    if depth <= 0:
        return []
    found: list[Path] = []
    for child in sorted(root.iterdir()):
        if child.is_symlink() or is_junk(child.name) or child.name.startswith(".") or not child.is_dir():
            continue
        found += lab_candidates(child, depth - 1)
    return found


def _seen(root: Path) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in sorted(root.iterdir()) if not is_junk(p.name)][:8] if root.is_dir() else []
    return ", ".join(names) or "nothing"


def _settle(found: Found, top: Path, shown: str) -> Found:
    labs = lab_candidates(top)
    if not labs:
        found.status, found.reason = "failed", f"no lab folder (one with phase1/ or phase2/) in {shown}; it holds: {_seen(top)}"
    elif len(labs) > 1:
        found.status = "not-gradable"
        found.reason = "two lab folders, an instructor decides which: " + " and ".join(str(p.relative_to(top.parent)) for p in labs[:2])
    else:
        found.lab_dir = labs[0]
    return found


def _name_id(name: str, pattern: re.Pattern[str] | None) -> str | None:
    if pattern is None:
        return name
    match = pattern.match(name)
    return match.group("id") if match and match.group("id") else None


def _lms_file(name: str, pattern: re.Pattern[str] | None) -> tuple[str, str] | None:
    """(student id, original file name) of an LMS export's file, or None."""
    tries = [("--id-pattern", pattern)] if pattern is not None else list(LMS_FILES)
    for _, rx in tries:
        match = rx.match(name)
        if match and match.group("id"):
            original = match.groupdict().get("file") or name
            return match.group("id"), original
    return None


def _place(original: str) -> str:
    """Where a loose file of an LMS export goes in the lab folder, by the name the lab gives it."""
    if original in PHASE1_FILES or original.endswith(".py"):
        return f"phase1/{original}"
    if original in COMPOSE_FILES:
        return f"phase2/{original}"
    return f"phase3/{original}" if original.endswith((".yaml", ".yml")) else f"phase1/{original}"


def find_labs(class_dir: Path, work: Path, pattern: re.Pattern[str] | None = None) -> tuple[list[Found], list[str]]:
    """Every student of ``class_dir`` with the lab folder to grade (archives extracted under ``work``), and what
    of the class folder is nobody's (junk, names the pattern does not match)."""
    if not class_dir.is_dir():
        raise OrchlabError(t(f"반 폴더 {class_dir} 가 없습니다.", f"the class folder {class_dir} does not exist."))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    candidates: dict[str, list[Found]] = {}
    loose: dict[str, list[tuple[Path, str]]] = {}
    nobody: list[str] = []
    for entry in sorted(class_dir.iterdir()):
        name = entry.name
        if is_junk(name) or name.startswith("."):
            continue
        if entry.is_symlink():
            nobody.append(f"{name} (a link: not followed)")
            continue
        if entry.is_dir():
            sid = _name_id(name, pattern)
            if sid is None:
                nobody.append(f"{name} (does not match --id-pattern)")
            else:
                candidates.setdefault(sid, []).append(_settle(Found(sid, "folder", [name]), entry, f"{name}/"))
            continue
        stem = archive_stem(name)
        # An archive is named after its student (carol.zip; with --id-pattern, by the pattern), unless it is one of an
        # LMS export's files (kimminji_12345_67890_lab.zip), whose name carries the student among other things.
        lms = _lms_file(name, None) if pattern is None else None
        sid = _name_id(stem, pattern) if stem is not None and lms is None else None
        if sid is not None and stem is not None:
            candidates.setdefault(sid, []).append(_one(entry, sid, stem, work))
            continue
        lms = lms or (_lms_file(name, pattern) if pattern is not None and "file" in pattern.groupindex else None)
        if lms is None:
            nobody.append(f"{name} (" + ("does not match --id-pattern)" if pattern is not None else "a file that names no student)"))
            continue
        loose.setdefault(lms[0], []).append((entry, lms[1]))
    for sid, files in loose.items():
        candidates.setdefault(sid, []).append(_from_files(sid, files, work))
    found = []
    for sid in sorted(candidates):
        group = candidates[sid]
        ok = [f for f in group if f.status == "ok"]
        if len(group) == 1:
            found.append(group[0])
        elif len(ok) == 1 and len(group) > 1 and all(f.status == "failed" for f in group if f is not ok[0]):
            best = ok[0]
            best.ignored += [f"{', '.join(f.origins)} ({f.reason})" for f in group if f is not best]
            found.append(best)
        else:
            found.append(Found(sid, "+".join(f.source for f in group), [o for f in group for o in f.origins], None, "not-gradable",
                               "two submissions, an instructor decides which: " + " and ".join(", ".join(f.origins) for f in group)))
    return found, nobody


def _one(entry: Path, sid: str, stem: str, work: Path) -> Found:
    """A student's archive, extracted into ``work`` (nothing written if it is unsafe), and the lab in it."""
    kind = "zip" if entry.name.lower().endswith(".zip") else "tar.gz"
    found = Found(sid, kind, [entry.name])
    dest = work / safe_name(sid) / safe_name(stem)
    try:
        done = extract(entry, dest)
    except Unsafe as exc:
        found.status, found.reason = "failed", f"{entry.name} was not extracted: {exc} (nothing of it was written)"
        return found
    found.ignored += [f"{entry.name}:{s} (archiver junk)" for s in done.skipped]
    if done.files == 0:
        found.status, found.reason = "failed", f"{entry.name} is empty"
        return found
    return _settle(found, dest, entry.name)


def _from_files(sid: str, files: list[tuple[Path, str]], work: Path) -> Found:
    """An LMS export's files of one student: an archive among them is extracted, loose files are put where the lab wants them."""
    archives = [(p, o) for p, o in files if archive_stem(p.name) is not None]
    plain = [(p, o) for p, o in files if (p, o) not in archives]
    found = Found(sid, "zip" if not plain and len(archives) == 1 else "files", [p.name for p, _ in files])
    parts: list[Found] = [_one(p, sid, archive_stem(o) or archive_stem(p.name) or p.name, work) for p, o in archives]
    if plain:
        lab = work / safe_name(sid) / "files"
        for path, original in plain:
            target = lab / _place(original)
            if path.stat().st_size > 5 * 1024 * 1024:
                found.ignored.append(f"{path.name} (bigger than a file may be)")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target, follow_symlinks=False)
        parts.append(_settle(Found(sid, "files", [p.name for p, _ in plain]), lab, "the export's files"))
    ok = [p for p in parts if p.status == "ok"]
    if len(ok) == 1:
        found.lab_dir = ok[0].lab_dir
        found.ignored += [i for p in parts for i in p.ignored]
        return found
    if not ok:
        found.status, found.reason = "failed", "; ".join(p.reason for p in parts)
        return found
    found.status = "not-gradable"
    found.reason = "two submissions, an instructor decides which: " + " and ".join(", ".join(p.origins) for p in ok)
    return found


def students(found: list[Found]) -> list[Student]:
    """The students to run: those with exactly one lab, with distinct results folders."""
    return distinct([Student(f.student, f.lab_dir) for f in found if f.status == "ok" and f.lab_dir is not None])


def intake_csv(found: list[Found], nobody: list[str], class_dir: Path) -> str:
    """``intake.csv``: student, status, source, the lab folder used, what was ignored, why not gradable."""
    from pytest_orchlab.grading.summary import csv_cell

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "status", "source", "from", "lab_dir", "ignored", "reason"])
    for f in found:
        writer.writerow([csv_cell(c) for c in (f.student, f.status, f.source, "; ".join(f.origins), _shown(f.lab_dir, class_dir),
                                               "; ".join(f.ignored), f.reason)])
    for entry in nobody:
        writer.writerow([csv_cell(c) for c in ("", "ignored", "", entry, "", "", "not a student's submission")])
    return out.getvalue()


def _shown(path: Path | None, class_dir: Path) -> str:
    if path is None:
        return ""
    try:
        return str(path.relative_to(class_dir))
    except ValueError:
        return str(path)
