"""Bilingual messages: every sentence a student reads exists in Korean and English."""

from __future__ import annotations

from dataclasses import dataclass

LANGS = ("ko", "en")


@dataclass(frozen=True)
class Text:
    """One message in both course languages."""

    ko: str
    en: str

    def render(self, lang: str) -> str:
        return self.ko if lang == "ko" else self.en

    def __str__(self) -> str:
        return self.en

    def __add__(self, other: Text) -> Text:
        return Text(f"{self.ko} {other.ko}", f"{self.en} {other.en}")


def t(ko: str, en: str) -> Text:
    """Shorthand used by the catalogues: ``t("한국어", "English")``."""
    return Text(ko, en)


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>()#+!|~"})


def md_text(value: object) -> str:
    """Text of a student's (an id, a build log line) inside Markdown: on one line, every character that Markdown or
    HTML would act on escaped."""
    return " ".join(str(value).split()).translate(_MARKDOWN)
