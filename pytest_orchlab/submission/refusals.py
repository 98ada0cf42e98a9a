"""What the gate says no to: a file, a line and a key where it can, and why, in both course languages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_orchlab.core.errors import LabInputError
from pytest_orchlab.core.text import Text, t

NEEDS_NONE = t("이 실습에는 필요 없는 설정이라 받지 않습니다.", "the lab needs none of it, so it is not taken.")


@dataclass(frozen=True)
class Refusal:
    """One thing of a submission the lab does not take: where (``phase2/docker-compose.yml``), the line
    (1-based, or None) and key path (``services.web.volumes[0]``) when known, and why."""

    where: str
    why: Text
    line: int | None = None
    key: str | None = None

    def place(self) -> str:
        spot = self.where + (f":{self.line}" if self.line else "")
        return f"{spot} ({self.key})" if self.key else spot

    def render(self, lang: str) -> str:
        """``phase2/docker-compose.yml:7 (services.web.env_file) asks for ...``: each ``why`` reads on from the place."""
        return f"{self.place()} {self.why.render(lang)}"


def refused(refusals: Sequence[Refusal], step: Text, fix: Text | None = None, limit: int = 6) -> LabInputError:
    """One :class:`LabInputError` naming every refusal (up to ``limit``), the lab step and what to do."""
    shown = list(refusals[:limit])
    more = len(refusals) - len(shown)
    ko = "; ".join(r.render("ko") for r in shown) + (f" 외 {more}건" if more else "")
    en = "; ".join(r.render("en") for r in shown) + (f" and {more} more" if more else "")
    hint = fix or t(f"'{step.ko}' 단계의 파일로 고치세요.", f"fix the file as in '{step.en}'.")
    return LabInputError(t(f"제출한 파일을 받을 수 없습니다: {ko}", f"The submitted files cannot be taken: {en}"), hint)
