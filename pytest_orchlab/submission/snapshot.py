"""The intake gate: the only code that reads a student's lab folder.

It reads what the lab needs (``phase1/`` as Docker would send it as a build context, the YAML files of
``phase2/`` and ``phase3/``) into a bounded, confined snapshot in memory, and writes that snapshot into
the run's own folder; everything after it (the image build, the stack, the manifests, the scheduling)
reads the snapshot, never the student's folder.

- Nothing is followed: directories are opened relative to their parent with ``O_NOFOLLOW``, so a link
  swapped in for a folder cannot lead the walk elsewhere. A link is kept (as a relative link) only when
  it resolves to something inside the same phase folder; any other link, a dangling one or a loop is
  refused with its name and target. Hard links, devices, FIFOs and sockets are refused.
- Bounded: :class:`Caps` (files, bytes per file, bytes in all, entries looked at, depth, seconds), counted
  after ``phase1/.dockerignore`` as Docker applies it and without ``.git/``. A cap exceeded is a failure that
  names the biggest entries (students commit virtualenvs and caches).
- A student's mistake here is *failed* with the file and the lab step, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_orchlab.core.errors import LabInputError
from pytest_orchlab.core.labdir import DOCKERFILES, PHASES, LabFolder, is_junk
from pytest_orchlab.core.text import Text, t
from pytest_orchlab.submission.refusals import Refusal, refused
from pytest_orchlab.submission.textfile import decode

KIB, MIB = 1024, 1024 * 1024
NEVER_SENT = (".git", "__pycache__")  # not part of what the lab builds (the build copy always left caches out)
YAML_SUFFIXES = (".yml", ".yaml")
PARSED = (*DOCKERFILES, ".dockerignore")  # the phase1/ files the lab parses (app.py is only built and sed-ed)
INTAKE_STEP = t("실습 폴더 (phase1/, phase2/, phase3/)", "the lab folder (phase1/, phase2/, phase3/)")


@dataclass(frozen=True)
class Caps:
    """How much of a submission is read. Named in the README; the lab's own files are a few kilobytes."""

    files: int = 2000
    file_bytes: int = 5 * MIB
    total_bytes: int = 20 * MIB
    parsed_bytes: int = 512 * KIB  # a Dockerfile, compose file or manifest: files the lab parses
    entries: int = 20_000  # entries looked at before the walk stops (a folder of a million files is not read to its end)
    depth: int = 32
    seconds: float = 30.0


@dataclass(frozen=True)
class Entry:
    """A file (its bytes) or a kept link (its relative target) of the snapshot."""

    path: str
    data: bytes | None = None
    link: str | None = None
    executable: bool = False


@dataclass
class Submission:
    """A student's lab as the gate read it: entries, what was left out, what was refused (by phase folder)."""

    source: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    problems: dict[str, list[Refusal]] = field(default_factory=lambda: defaultdict(list))
    names: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # folder -> every name seen there
    seconds: float = 0.0

    @property
    def digest(self) -> str:
        """sha256 over every entry (path, kind, executable bit, content): the snapshot's identity."""
        h = hashlib.sha256()
        for path in sorted(self.entries):
            e = self.entries[path]
            kind = b"L" + e.link.encode() if e.link is not None else b"F" + hashlib.sha256(e.data or b"").digest()
            h.update(path.encode() + b"\0" + kind + (b"x" if e.executable else b"-") + b"\0")
        return h.hexdigest()

    @property
    def bytes(self) -> int:
        return sum(len(e.data or b"") for e in self.entries.values())

    def describe(self) -> dict[str, Any]:
        """What the report says about the intake (the snapshot's digest ties a signed report to these files)."""
        return {"source": str(self.source), "digest": self.digest, "files": len(self.entries), "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "ignored": self.ignored[:50],
                "refused": [r.render("en") for rs in self.problems.values() for r in rs][:50]}

    def write(self, dest: Path) -> LabFolder:
        """The snapshot as a folder (``dest`` must not exist), and the :class:`LabFolder` that reads it."""
        dest.mkdir(parents=True, mode=0o700)
        for phase in PHASES:
            if any(p.startswith(phase + "/") for p in self.entries):
                (dest / phase).mkdir(exist_ok=True)
        for path in sorted(self.entries):
            entry = self.entries[path]
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.link is not None:
                os.symlink(entry.link, target)
                continue
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if entry.executable else 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(entry.data or b"")
        blocked = {phase: refused(problems, INTAKE_STEP, _fix(problems)) for phase, problems in self.problems.items() if problems}
        return LabFolder(dest, source=self.source, problems=blocked, names={k: tuple(v) for k, v in self.names.items()},
                         digest=self.digest)

    def text(self, path: str, caps: Caps = Caps()) -> str:
        """A file the lab parses, decoded; a :class:`LabInputError` for a file too big or not UTF-8."""
        entry = self.entries.get(path)
        if entry is None or entry.data is None:
            raise LabInputError(t(f"{path} 이(가) 없습니다.", f"{path} is missing."), INTAKE_STEP)
        if len(entry.data) > caps.parsed_bytes:
            raise refused([Refusal(path, _too_big(len(entry.data), caps.parsed_bytes))], INTAKE_STEP)
        text = decode(entry.data, path)
        if isinstance(text, Refusal):
            raise refused([text], INTAKE_STEP, text.why)
        return text


def _too_big(size: int, cap: int) -> Text:
    return t(f"{_mb(size)} 로 너무 큽니다 (한 파일 최대 {_mb(cap)}).", f"is {_mb(size)}, more than the {_mb(cap)} a file may have.")


def _mb(n: int) -> str:
    return f"{n / MIB:.1f} MB" if n >= MIB else f"{n / KIB:.0f} KB" if n >= KIB else f"{n} bytes"


def _fix(problems: list[Refusal]) -> Text:
    if any("link" in r.why.en for r in problems):
        return t("링크 대신 파일을 그대로 복사해 두세요 (링크는 같은 phase 폴더 안을 가리킬 때만 받습니다).",
                 "copy the file itself instead of a link (a link is taken only when it points inside the same phase folder).")
    if any("cap" in r.why.en or "more than" in r.why.en for r in problems):
        return t("가상환경·캐시·데이터는 제출하지 말고 phase1/.dockerignore 에 적으세요.",
                 "do not submit virtualenvs, caches or data: list them in phase1/.dockerignore.")
    return t("실습 폴더에는 phase1/, phase2/, phase3/ 의 일반 파일만 두세요.", "keep only plain files in phase1/, phase2/ and phase3/.")


def _dockerignore(data: bytes | None) -> Any:
    """Docker's own matcher for ``.dockerignore`` (the Docker SDK's, which follows moby's rules)."""
    from docker.utils.build import PatternMatcher

    text = decode(data, "phase1/.dockerignore") if data is not None else ""
    lines = [] if isinstance(text, Refusal) else [ln.strip() for ln in text.splitlines()]
    return PatternMatcher([ln for ln in lines if ln and not ln.startswith("#")])


class _Walk:
    """One pass over the student's folder with directory descriptors; fills a :class:`Submission`."""

    def __init__(self, root: Path, sub: Submission, caps: Caps) -> None:
        self.root, self.sub, self.caps = root, sub, caps
        self.deadline = time.monotonic() + caps.seconds
        self.seen = 0
        self.total = 0
        self.files = 0
        self.sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # top entry -> [bytes, files]: the biggest are named
        self.exceeded = False
        self.stopped: Refusal | None = None

    def problem(self, phase: str, where: str, why: Text) -> None:
        self.sub.problems[phase].append(Refusal(where, why))

    def entries(self, fd: int) -> Iterator[os.DirEntry[str]]:
        with os.scandir(fd) as it:
            yield from sorted(it, key=lambda e: e.name)

    def budget(self, phase: str, where: str) -> bool:
        """False once the walk must stop (too many entries, too long); said once."""
        self.seen += 1
        if self.stopped is None and self.seen > self.caps.entries:
            self.stopped = Refusal(where, t(f"항목이 {self.caps.entries:,}개를 넘어 더 읽지 않았습니다.",
                                            f"more than {self.caps.entries:,} entries: reading stopped there (a cap)."))
        elif self.stopped is None and time.monotonic() > self.deadline:
            self.stopped = Refusal(where, t(f"읽는 데 {self.caps.seconds:.0f}초가 넘게 걸려 멈췄습니다.",
                                            f"reading took more than {self.caps.seconds:.0f} s and was stopped (a cap)."))
        if self.stopped is not None and self.stopped not in self.sub.problems[phase]:
            self.sub.problems[phase].append(self.stopped)
        return self.stopped is None

    def link(self, phase: str, rel: str, fd: int, name: str) -> None:
        target = os.readlink(name, dir_fd=fd)
        full = os.path.join(self.root, rel)
        real, home = os.path.realpath(full), os.path.realpath(os.path.join(self.root, phase))
        if real != home and not real.startswith(home + os.sep):
            self.problem(phase, rel, t(f"링크가 {phase}/ 밖의 {target} 을(를) 가리킵니다: 받지 않습니다.",
                                       f"is a link to {target}, outside {phase}/: links out of a phase folder are refused."))
        elif not os.path.exists(real):
            self.problem(phase, rel, t(f"링크({target})가 가리키는 곳이 없습니다 (끊긴 링크이거나 순환).",
                                       f"is a link to {target} that leads nowhere (dangling, or a loop)."))
        else:
            self.sub.entries[rel] = Entry(rel, link=os.path.relpath(real, os.path.realpath(os.path.dirname(full))))

    def file(self, phase: str, rel: str, fd: int, name: str, parsed: bool) -> None:
        try:
            handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            self.problem(phase, rel, t(f"읽을 수 없습니다: {exc.strerror}", f"cannot be read: {exc.strerror}"))
            return
        try:
            info = os.fstat(handle)
            if not stat.S_ISREG(info.st_mode):
                self.problem(phase, rel, t("일반 파일이 아닙니다.", "is not a regular file."))
                return
            if info.st_nlink > 1:
                self.problem(phase, rel, t("하드 링크입니다: 파일을 복사해 두세요.", "is a hard link (it may be another file of this machine): copy it."))
                return
            cap = self.caps.parsed_bytes if parsed else self.caps.file_bytes
            top = "/".join(rel.split("/")[:2])
            if info.st_size > cap:
                self.problem(phase, rel, _too_big(info.st_size, cap))
                return
            self.files += 1
            self.total += info.st_size
            self.sizes[top][0] += info.st_size
            self.sizes[top][1] += 1
            self.exceeded = self.exceeded or self.files > self.caps.files or self.total > self.caps.total_bytes
            if self.exceeded:
                return  # counted, to name the biggest entries, but no longer read
            chunks, left = [], cap + 1
            while left > 0:
                chunk = os.read(handle, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
            if len(data) > cap:  # it grew while we read it
                self.problem(phase, rel, _too_big(len(data), cap))
                return
            self.sub.entries[rel] = Entry(rel, data, executable=bool(info.st_mode & stat.S_IXUSR))
        finally:
            os.close(handle)

    def folder(self, phase: str, rel: str, fd: int, depth: int, ignore: Any) -> None:
        """``phase1/`` and below, as Docker sends a build context (``.dockerignore`` applied)."""
        for entry in self.entries(fd):
            sub = f"{rel}/{entry.name}"
            inner = sub[len(phase) + 1:]
            if not self.budget(phase, sub):
                return
            if entry.name in NEVER_SENT or is_junk(entry.name) or entry.name.endswith(".pyc"):
                self.sub.ignored.append(f"{sub} (not part of the build)")
                continue
            if entry.is_symlink():
                matched = ignore.matches(inner)
                if not matched:
                    self.link(phase, sub, fd, entry.name)
                continue
            if entry.is_dir(follow_symlinks=False):
                matched = ignore.matches(inner)
                if matched and not any(p.exclusion and p.cleaned_pattern.startswith(inner) for p in ignore.patterns):
                    self.sub.ignored.append(f"{sub}/ (.dockerignore)")
                    continue
                if depth >= self.caps.depth:
                    self.problem(phase, sub, t(f"폴더가 {self.caps.depth}단계보다 깊습니다.", f"is nested more than {self.caps.depth} folders deep."))
                    continue
                try:
                    child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    self.problem(phase, sub, t(f"폴더를 열 수 없습니다: {exc.strerror}", f"cannot be opened: {exc.strerror}"))
                    continue
                try:
                    self.folder(phase, sub, child, depth + 1, ignore)
                finally:
                    os.close(child)
                continue
            if ignore.matches(inner) and inner not in PARSED:
                self.sub.ignored.append(f"{sub} (.dockerignore)")
                continue
            if not entry.is_file(follow_symlinks=False):
                self.problem(phase, sub, t("일반 파일이 아닙니다 (장치, FIFO 또는 소켓).", "is not a regular file (a device, FIFO or socket)."))
                continue
            self.file(phase, sub, fd, entry.name, parsed=inner in PARSED)

    def yaml_files(self, phase: str, fd: int) -> None:
        """``phase2/``, ``phase3/``: the YAML files at their top (all the lab reads there)."""
        for entry in self.entries(fd):
            sub = f"{phase}/{entry.name}"
            self.sub.names[phase].append(entry.name)
            if not self.budget(phase, sub):
                return
            if is_junk(entry.name) or not entry.name.lower().endswith(YAML_SUFFIXES):
                self.sub.ignored.append(f"{sub} (the lab reads only the YAML files of {phase}/)")
                continue
            if entry.is_symlink():
                self.link(phase, sub, fd, entry.name)
                if sub in self.sub.entries:  # a YAML file is parsed: keep its content, not a link to it
                    del self.sub.entries[sub]
                    self.problem(phase, sub, t("YAML 파일이 링크입니다: 파일을 복사해 두세요.", "is a link: copy the YAML file itself."))
                continue
            if not entry.is_file(follow_symlinks=False):
                self.sub.ignored.append(f"{sub} (not a file)")
                continue
            self.file(phase, sub, fd, entry.name, parsed=True)

    def caps_exceeded(self) -> None:
        if not self.exceeded:
            return
        biggest = sorted(self.sizes.items(), key=lambda kv: -kv[1][0])[:5]
        named = ", ".join(f"{top} ({_mb(size)} in {n} file{'s' if n > 1 else ''})" for top, (size, n) in biggest)
        phase = biggest[0][0].split("/")[0] if biggest else "phase1"
        self.sub.problems[phase].append(Refusal(phase, t(
            f"파일 {self.files}개, {_mb(self.total)}: 한도(파일 {self.caps.files}개, {_mb(self.caps.total_bytes)})를 넘습니다. 큰 항목: {named}",
            f"holds {self.files} files, {_mb(self.total)}: more than the caps ({self.caps.files} files, {_mb(self.caps.total_bytes)}). "
            f"The biggest: {named}")))


def take(source: str | os.PathLike[str], caps: Caps = Caps()) -> Submission:
    """Read a student's lab folder through the gate (nothing is written; see :meth:`Submission.write`)."""
    began = time.monotonic()
    root = Path(os.path.expanduser(os.fspath(source))).resolve()
    sub = Submission(root)
    if not root.is_dir():
        sub.problems[""].append(Refusal(str(root), t("실습 폴더가 없습니다.", "the lab folder does not exist.")))
        return sub
    walk = _Walk(root, sub, caps)
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for entry in walk.entries(top):
            sub.names[""].append(entry.name)
            if entry.name not in PHASES:
                if not is_junk(entry.name):
                    sub.ignored.append(f"{entry.name} (the lab reads phase1/, phase2/ and phase3/)")
                continue
            phase = entry.name
            if entry.is_symlink():
                walk.problem(phase, phase, t(f"{phase} 가 폴더가 아니라 링크({os.readlink(phase, dir_fd=top)})입니다.",
                                             f"is a link to {os.readlink(phase, dir_fd=top)}, not a folder: copy the folder itself."))
                continue
            if not entry.is_dir(follow_symlinks=False):
                walk.problem(phase, phase, t("폴더가 아닙니다.", "is not a folder."))
                continue
            fd = os.open(phase, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=top)
            try:
                if phase == "phase1":
                    sub.names[phase] = [e.name for e in walk.entries(fd)]
                    walk.folder(phase, phase, fd, 1, _dockerignore(_peek(fd, ".dockerignore", caps.parsed_bytes)))
                else:
                    walk.yaml_files(phase, fd)
            finally:
                os.close(fd)
    finally:
        os.close(top)
    walk.caps_exceeded()
    sub.seconds = time.monotonic() - began
    return sub


def _peek(fd: int, name: str, cap: int) -> bytes | None:
    """A small regular file of a folder, read without following a link (None if it is not one)."""
    try:
        handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return None
    try:
        return os.read(handle, cap) if stat.S_ISREG(os.fstat(handle).st_mode) else None
    finally:
        os.close(handle)
