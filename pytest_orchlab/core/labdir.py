"""The student's lab folder, laid out as the lab page creates it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_orchlab.core.text import Text

DEFAULT_LAB_DIR = "~/orchestration-lab"


def looks_like_lab(folder: str | os.PathLike[str]) -> bool:
    """A lab folder as the lab page creates it: it has ``phase1/`` or ``phase2/``."""
    root = Path(folder)
    return (root / "phase1").is_dir() or (root / "phase2").is_dir()


@dataclass(frozen=True)
class LabFolder:
    """``~/orchestration-lab`` with ``phase1/app.py``, ``phase1/Dockerfile``, ``phase2/docker-compose.yml``.

    Read-only: nothing here ever writes into the student's folder.
    """

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> LabFolder:
        return cls(Path(os.path.expanduser(os.fspath(path))).resolve())

    @property
    def phase1(self) -> Path:
        return self.root / "phase1"

    @property
    def app_py(self) -> Path:
        return self.phase1 / "app.py"

    @property
    def dockerfile(self) -> Path:
        return self.phase1 / "Dockerfile"

    @property
    def compose_file(self) -> Path:
        return self.root / "phase2" / "docker-compose.yml"

    def require(self, *paths: Path, step: Text) -> None:
        """Raise one clear :class:`LabInputError` naming every missing file and the lab step."""
        # Imported here: this module is read by the plugin's switch in every pytest run, the messages only on use.
        from pytest_orchlab.core.errors import LabInputError
        from pytest_orchlab.core.text import t

        if not self.root.is_dir():
            raise LabInputError(
                t(f"실습 폴더 {self.root} 가 없습니다.", f"The lab folder {self.root} does not exist."),
                t(
                    f"`--lab-dir`로 실습 폴더를 지정하거나 '{step.ko}' 단계를 따라 만드세요.",
                    f"point `--lab-dir` at your lab folder, or create it as in '{step.en}'.",
                ),
            )
        missing = [str(p.relative_to(self.root)) for p in paths if not p.is_file()]
        if missing:
            names = ", ".join(missing)
            raise LabInputError(
                t(f"{self.root} 에 {names} 이(가) 없습니다.", f"{names} missing in {self.root}."),
                t(f"'{step.ko}' 단계에서 만드는 파일입니다.", f"the lab step '{step.en}' creates it."),
            )
