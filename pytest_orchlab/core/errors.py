"""The small exception tree; each carries a message a student can act on."""

from __future__ import annotations

from pytest_orchlab.core.text import Text, t


class OrchlabError(Exception):
    """Base of everything pytest-orchlab raises on purpose."""

    fix_word = {"ko": "해결", "en": "Fix"}

    def __init__(self, text: Text, fix: Text | None = None) -> None:
        super().__init__(text.en)
        self.text = text
        self.fix = fix

    def render(self, lang: str) -> str:
        parts = [self.text.render(lang)]
        if self.fix is not None:
            parts.append(f"{self.fix_word[lang]}: {self.fix.render(lang)}")
        return " ".join(parts)


class LabInputError(OrchlabError):
    """The student's lab folder is at fault (missing file, broken YAML, crashing app)."""

    fix_word = {"ko": "힌트", "en": "Hint"}


class NotGradable(OrchlabError):
    """The environment, not the student, is at fault; ``fix`` says what to do."""


class CheckpointTimeout(OrchlabError):
    """A wait ran out; the text names what was waited for, how long, and what was seen."""


def docker_failure(exc: BaseException) -> NotGradable:
    """Turn an unexpected engine error into a one-paragraph not-gradable result."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return NotGradable(
        t(f"Docker 엔진이 오류를 돌려주었습니다: {first}", f"The Docker engine returned an error: {first}"),
        t(
            "`docker info`로 엔진 상태를 확인하고 다시 실행하세요.",
            "check the engine with `docker info` and run again.",
        ),
    )


def classified(exc: BaseException, lang: str) -> tuple[str, str, str | None]:
    """(outcome, one-paragraph message, hint) of an error a checkpoint raised: the engine's and the network's
    errors and :class:`NotGradable` are not gradable, a lab's mistake and a failed assert are failed, anything
    else is orchlab's own fault (not gradable, with its type, to report)."""
    import docker.errors
    import requests.exceptions

    if isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):
        exc = docker_failure(exc)
    if isinstance(exc, NotGradable):
        return "not-gradable", exc.text.render(lang), exc.fix.render(lang) if exc.fix else None
    if isinstance(exc, LabInputError):
        return "failed", exc.text.render(lang), exc.fix.render(lang) if exc.fix else None
    if isinstance(exc, OrchlabError):
        return "failed", exc.render(lang), None
    if isinstance(exc, AssertionError):
        said = str(exc).strip() or ("assert 가 실패했습니다" if lang == "ko" else "an assert failed")
        return "failed", said, None
    return "not-gradable", (
        f"pytest-orchlab 내부 오류 {type(exc).__name__}: {exc}" if lang == "ko"
        else f"pytest-orchlab internal error {type(exc).__name__}: {exc} (please report it)"
    ), None
