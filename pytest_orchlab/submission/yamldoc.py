"""YAML from a submission: ``yaml.safe_load`` with a line for every key, bounded against alias bombs.

PyYAML shares an aliased node instead of copying it, so a file of nested aliases ("billion laughs") loads
small but expands exponentially for anything that walks it (our policy, ``yaml.safe_dump``, the docker CLI).
The expanded size is computed once from the node graph (linear, memoised) and refused above a cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from pytest_orchlab.core.text import t
from pytest_orchlab.submission.refusals import Refusal

MAX_VALUES = 20_000  # scalars, lists and maps of one document once every alias is expanded; the lab's file has ~40

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """One YAML document: its data and the 1-based line of every key and list item, by path."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int | None:
        """The line of ``path`` or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_VALUES + 1  # a node that contains itself (a recursive alias) is over the cap
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded(v, memo) for v in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_VALUES + 1)
    return memo[key]


def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if name == "<<":  # a merge key: the merged keys belong to this mapping, where the anchor wrote them
                for merged in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                    _lines(merged, path, out)
                continue
            out.setdefault((*path, str(name)), key.start_mark.line + 1)
            _lines(value, (*path, str(name)), out)
    elif isinstance(node, yaml.SequenceNode):
        for n, value in enumerate(node.value):
            _lines(value, (*path, n), out)


def load(text: str, where: str) -> list[Document] | Refusal:
    """Every document of ``text`` (empty ones left out), or what made it unreadable, with its line."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml where built: the same nodes, faster
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if _expanded(node, {}) > MAX_VALUES:
                return Refusal(where, t(f"앵커와 별칭을 펼치면 값이 {MAX_VALUES:,}개를 넘습니다.",
                                        f"expands to more than {MAX_VALUES:,} values through anchors and aliases (a cap)."),
                               node.start_mark.line + 1)
            lines: dict[Path_, int] = {}
            _lines(node, (), lines)
            data = loader.construct_document(node)
            if data is not None:
                docs.append(Document(data, lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f", at {where.rsplit('/', 1)[-1]} line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return Refusal(where, t(f"을(를) YAML 로 읽을 수 없습니다: {problem}{at}. 표시된 줄 근처의 들여쓰기와 콜론을 확인하세요.",
                                f"is not valid YAML: {problem}{at}. Check indentation and colons near that line."))
    except RecursionError:
        return Refusal(where, t("YAML 이 너무 깊게 중첩되어 있습니다.", "is nested too deeply to read."))
    finally:
        loader.dispose()
    return docs
