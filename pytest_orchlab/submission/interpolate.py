"""Compose's ``${VAR}`` interpolation, resolved by us with nothing to resolve from.

``docker stack deploy`` would fill ``${...}`` (and a bare ``environment: [NAME]``) from its own process
environment: in a graded run that held the course's signing key. A submission is interpolated here against
an empty environment, exactly as the compose spec defines it for unset variables, and every ``$`` left is
escaped as ``$$`` in the file that is deployed, so the CLI has nothing to fill in either.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_orchlab.core.text import t
from pytest_orchlab.submission.refusals import Refusal
from pytest_orchlab.submission.yamldoc import Document

# As docker/cli's template package: $$, $NAME, ${NAME}, ${NAME<op>word} with op :- - :? ? :+ +; anything else is invalid.
_TOKEN = re.compile(r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|\{(?P<braced>[^}]*)\}|(?P<invalid>))")
_BRACED = re.compile(r"^(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-?+])(?P<word>.*))?$", re.S)


class _Unresolvable(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def resolve_text(text: str) -> str:
    """``text`` with every variable unset: ``${X:-d}`` → ``d``, ``${X}`` → ``""``; raises for ``${X:?}`` and bad syntax."""
    def one(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "$"
        if match.group("named") is not None:
            return ""
        braced = match.group("braced")
        if braced is None:
            raise _Unresolvable("a '$' that starts no variable (write '$$' for a literal '$')")
        parts = _BRACED.match(braced)
        if parts is None:
            raise _Unresolvable(f"invalid interpolation '${{{braced}}}'")
        op, word = parts.group("op") or "", parts.group("word") or ""
        if op in (":-", "-"):
            return resolve_text(word)
        if op in (":?", "?"):
            raise _Unresolvable(f"it needs the variable {parts.group('name')} ({word or 'required'}), which a graded run never sets")
        return ""  # unset, so neither the value nor ':+'/'+' alternatives apply

    return _TOKEN.sub(one, text)


def resolve(doc: Document, where: str) -> tuple[Any, list[Refusal]]:
    """The document with its values interpolated against an empty environment, and what could not be."""
    problems: list[Refusal] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, n)) for n, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            try:
                return resolve_text(value)
            except _Unresolvable as exc:
                problems.append(Refusal(where, t(f"변수를 채울 수 없습니다: {exc.why}", f"cannot be interpolated: {exc.why}"),
                                        doc.line(*path), ".".join(map(str, path))))
                return value
        return value

    return walk(doc.data, ()), problems


def escape(value: Any) -> Any:
    """Every ``$`` as ``$$``: what is deployed reaches the engine literally."""
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, str):
        return value.replace("$", "$$")
    return value
