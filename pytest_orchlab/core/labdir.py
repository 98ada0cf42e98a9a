"""The student's lab folder, laid out as the lab page creates it, under the names students really save."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_orchlab.core.errors import OrchlabError
    from pytest_orchlab.core.text import Text

DEFAULT_LAB_DIR = "~/orchestration-lab"
PHASES = ("phase1", "phase2", "phase3")
DOCKERFILES = ("Dockerfile", "dockerfile")
# The names `docker compose` accepts, in its own order of preference; the lab page writes the last one.
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", "ehthumbs.db"}


def is_junk(name: str) -> bool:
    """What archivers and file managers add (``__MACOSX``, ``.DS_Store``, ``Thumbs.db``, ``._file``): never the lab's."""
    return name in JUNK or name.startswith("._")


def looks_like_lab(folder: str | os.PathLike[str]) -> bool:
    """A lab folder as the lab page creates it: it has ``phase1/`` or ``phase2/``."""
    root = Path(folder)
    return (root / "phase1").is_dir() or (root / "phase2").is_dir()


def single_lab_below(folder: str | os.PathLike[str]) -> Path | None:
    """The one lab folder directly inside ``folder`` (``pytest`` run one level above ``orchestration-lab/``), else None."""
    try:
        children = [c for c in Path(folder).iterdir() if not c.name.startswith(".") and not is_junk(c.name) and not c.is_symlink() and c.is_dir()]
    except OSError:
        return None
    labs = [c for c in children if looks_like_lab(c)]
    return labs[0] if len(labs) == 1 else None


def _squash(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def near_misses(wanted: str, seen: tuple[str, ...] | list[str]) -> list[str]:
    """Names in ``seen`` a student probably meant as ``wanted`` (``docker_compose.yml``, ``app.py.txt``, ``DockerFile``)."""
    import difflib

    out = []
    for name in seen:
        if name == wanted:
            continue
        if (_squash(name) == _squash(wanted) or name.lower().startswith(wanted.lower() + ".")
                or difflib.SequenceMatcher(None, name.lower(), wanted.lower()).ratio() >= 0.8):
            out.append(name)
    return out


@dataclass(frozen=True)
class LabFolder:
    """``~/orchestration-lab`` with ``phase1/app.py``, ``phase1/Dockerfile``, ``phase2/docker-compose.yml``.

    Read-only. In a lab run ``root`` is the intake gate's snapshot in the run's own folder and ``source`` the
    student's folder it was read from (``pytest_orchlab.submission``); ``problems`` are what the gate refused,
    by phase folder, raised when a checkpoint needs that phase; ``names`` are the entries the gate saw, by
    folder, for hints about a file saved under another name.
    """

    root: Path
    source: Path | None = None
    problems: Mapping[str, OrchlabError] = field(default_factory=dict)
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    digest: str = ""

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> LabFolder:
        """A folder read directly (a course's own conftest that makes one): no gate, so only for trusted folders."""
        return cls(Path(os.path.expanduser(os.fspath(path))).resolve())

    @property
    def shown(self) -> Path:
        """The folder as the student knows it (their own, not the snapshot)."""
        return self.source or self.root

    @property
    def phase1(self) -> Path:
        return self.root / "phase1"

    @property
    def app_py(self) -> Path:
        return self.phase1 / "app.py"

    def _pick(self, folder: Path, names: tuple[str, ...]) -> list[Path]:
        try:
            present = set(os.listdir(folder))  # exact names: a case-insensitive disk would find `dockerfile` for `Dockerfile`
        except OSError:
            present = set()
        return [folder / n for n in names if n in present and (folder / n).is_file()]

    @property
    def dockerfile(self) -> Path:
        """``phase1/Dockerfile`` (or ``dockerfile``, as some students save it)."""
        found = self._pick(self.phase1, DOCKERFILES)
        return found[0] if found else self.phase1 / DOCKERFILES[0]

    @property
    def compose_file(self) -> Path:
        """``phase2/docker-compose.yml``, or another name ``docker compose`` accepts (``compose.yaml`` ...)."""
        found = self._pick(self.root / "phase2", COMPOSE_FILES)
        return found[0] if found else self.root / "phase2" / COMPOSE_FILES[-1]

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def require(self, *paths: Path, step: Text) -> None:
        """Raise one clear :class:`LabInputError` naming every missing or refused file and the lab step."""
        # Imported here: this module is read by the plugin's switch in every pytest run, the messages only on use.
        from pytest_orchlab.core.errors import LabInputError
        from pytest_orchlab.core.text import t

        if "" in self.problems or not self.root.is_dir():
            raise LabInputError(
                t(f"실습 폴더 {self.shown} 가 없습니다.", f"The lab folder {self.shown} does not exist."),
                t(
                    f"`--lab-dir`로 실습 폴더를 지정하거나 '{step.ko}' 단계를 따라 만드세요.",
                    f"point `--lab-dir` at your lab folder, or create it as in '{step.en}'.",
                ),
            )
        for phase in dict.fromkeys(self.relative(p).split("/")[0] for p in paths):
            if phase in self.problems:
                raise self.problems[phase]
        twice = self._twice(paths)
        if twice:
            raise LabInputError(t(f"{self.shown} 에 같은 역할의 파일이 둘 있습니다: {twice}", f"{self.shown} holds two files for one role: {twice}"),
                                t("하나만 남기세요 (docker compose 도 하나만 씁니다).", "keep only one of them (docker compose, too, uses just one)."))
        missing = [self.relative(p) for p in paths if not p.is_file()]
        if missing:
            names = ", ".join(missing)
            found = self._found_instead(missing)
            raise LabInputError(
                t(f"{self.shown} 에 {names} 이(가) 없습니다.{found.ko}", f"{names} missing in {self.shown}.{found.en}"),
                t(f"'{step.ko}' 단계에서 만드는 파일입니다.", f"the lab step '{step.en}' creates it."),
            )

    def _twice(self, paths: tuple[Path, ...]) -> str:
        for path in paths:
            for names in (DOCKERFILES, COMPOSE_FILES):
                if path.name in names:
                    found = self._pick(path.parent, names)
                    if len(found) > 1:
                        return ", ".join(self.relative(p) for p in found)
        return ""

    def _found_instead(self, missing: list[str]) -> Text:
        """" There is phase2/docker_compose.yml: the lab step names it phase2/docker-compose.yml." for each near miss."""
        from pytest_orchlab.core.text import t

        ko, en = [], []
        for rel in missing:
            folder, _, wanted = rel.rpartition("/")
            wanted_names = COMPOSE_FILES if wanted in COMPOSE_FILES else DOCKERFILES if wanted in DOCKERFILES else (wanted,)
            hits = [f"{folder}/{n}" for w in wanted_names for n in near_misses(w, self.names.get(folder, ())) if n not in wanted_names]
            hits += [n for n in self.names.get("", ()) if n in wanted_names]  # the right name, in the wrong folder
            for hit in dict.fromkeys(hits):
                ko.append(f" {hit} 이(가) 있습니다: 실습 단계의 이름은 {rel} 입니다.")
                en.append(f" There is {hit}: the lab step names it {rel}.")
        return t("".join(ko), "".join(en))
