"""A student's ``.zip`` or ``.tar.gz``, extracted safely into a private folder.

No path outside the folder (absolute, ``..``, a drive letter), no links, no devices, and the intake gate's size
caps (a file, all files, how many entries), checked before a byte is written and again while writing: a zip bomb
or an archive that lies about its sizes stops at the cap. Archiver junk (``__MACOSX/``, ``.DS_Store``) is left out.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pytest_orchlab.core.labdir import is_junk
from pytest_orchlab.submission.snapshot import Caps, _mb

ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


class Unsafe(Exception):
    """The archive asks for something a submission may not: the reason, for the intake's row."""


def archive_stem(name: str) -> str | None:
    """``carol`` for ``carol.zip`` / ``carol.tar.gz``; None when the name is no archive of ours."""
    lower = name.lower()
    for suffix in ARCHIVES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


@dataclass(frozen=True)
class Extracted:
    """What came out: files written and what was left out."""

    files: int
    bytes: int
    skipped: tuple[str, ...]


def _member_path(name: str) -> PurePosixPath | None:
    """The member's path inside the folder, None for junk; :class:`Unsafe` for one that would leave it."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":") or ".." in path.parts:
        raise Unsafe(f"the entry {name!r} would be written outside the archive's folder")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(is_junk(p) for p in parts):
        return None
    return PurePosixPath(*parts)


class _Budget:
    def __init__(self, caps: Caps) -> None:
        self.caps, self.files, self.bytes = caps, 0, 0

    def take(self, name: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > self.caps.entries:
            raise Unsafe(f"it holds more than {self.caps.entries:,} entries")
        if size > self.caps.file_bytes:
            raise Unsafe(f"{name} is {_mb(size)}, more than the {_mb(self.caps.file_bytes)} a file may have")
        if self.bytes > self.caps.total_bytes:
            raise Unsafe(f"it unpacks to more than {_mb(self.caps.total_bytes)}")


def _copy_bounded(source: object, target: Path, limit: int) -> int:
    """Write at most ``limit`` bytes of a file object; :class:`Unsafe` if it has more than it said."""
    written = 0
    with target.open("xb") as out:
        while True:
            chunk = source.read(1 << 16)  # type: ignore[attr-defined]
            if not chunk:
                return written
            written += len(chunk)
            if written > limit:
                raise Unsafe(f"{target.name} holds more bytes than the archive says")
            out.write(chunk)


def extract(archive: Path, dest: Path, caps: Caps | None = None) -> Extracted:
    """Extract ``archive`` into ``dest`` (made here, must not exist); on :class:`Unsafe` nothing is left in ``dest``."""
    caps = caps or Caps()
    dest.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            return _zip(archive, dest, caps)
        return _tar(archive, dest, caps)
    except (Unsafe, OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, Unsafe):
            raise
        raise Unsafe(f"it cannot be read as an archive ({type(exc).__name__}: {exc})") from None


def _zip(archive: Path, dest: Path, caps: Caps) -> Extracted:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        budget, skipped, plan = _Budget(caps), [], []
        for info in members:  # every member checked before anything is written
            path = _member_path(info.filename)
            if path is None:
                skipped.append(info.filename)
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise Unsafe(f"the entry {info.filename!r} is a link")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # zips from Windows carry no type
                raise Unsafe(f"the entry {info.filename!r} is not a file or a folder")
            if not info.is_dir():
                budget.take(info.filename, info.file_size)
            plan.append((info, path))
        for info, path in plan:
            target = dest.joinpath(*path.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source:
                _copy_bounded(source, target, info.file_size)
            if (info.external_attr >> 16) & 0o100:
                target.chmod(0o755)
        return Extracted(budget.files, budget.bytes, tuple(skipped))


def _tar(archive: Path, dest: Path, caps: Caps) -> Extracted:
    with tarfile.open(archive) as tf:
        budget, skipped, keep = _Budget(caps), [], []
        for member in tf.getmembers():
            path = _member_path(member.name)
            if path is None:
                skipped.append(member.name)
                continue
            if member.issym() or member.islnk():
                raise Unsafe(f"the entry {member.name!r} is a link")
            if not (member.isfile() or member.isdir()):
                raise Unsafe(f"the entry {member.name!r} is not a file or a folder")
            if member.isfile():
                budget.take(member.name, member.size)
            member.name = str(path)
            keep.append(member)
        # Python's own extraction filter (PEP 706) as the second line: it refuses what would leave dest.
        tf.extractall(dest, members=keep, filter="data")
        return Extracted(budget.files, budget.bytes, tuple(skipped))
