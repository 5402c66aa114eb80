"""YAML loading that remembers the line of every key, so errors can point at it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file, located for a person to find and fix."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config folder has problems; `problems` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Located:
    """Plain data from one YAML file, with the 1-based line of each key path."""

    file: str
    data: Any
    lines: dict[Loc, int]

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest part of `loc` the file has (an error may name a child)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def load(path: Path, label: str) -> Located:
    """Read a YAML file into plain dicts/lists with key positions; raise ConfigError if broken."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError([Problem(label, None, "", "file is missing")]) from e
    try:
        tree = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark
        line = mark.line + 1 if mark is not None else None
        message = f"not valid YAML: {e.problem}"
        raise ConfigError([Problem(label, line, "", message)]) from e
    lines: dict[Loc, int] = {(): 1}
    return Located(label, _plain(tree, (), lines), lines)


def _plain(node: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    if isinstance(node, CommentedMap):
        result = {}
        for key in node:
            child = (*loc, str(key))
            lines[child] = node.lc.key(key)[0] + 1
            result[str(key)] = _plain(node[key], child, lines)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            lines[(*loc, i)] = node.lc.item(i)[0] + 1
            items.append(_plain(item, (*loc, i), lines))
        return items
    if isinstance(node, str):
        return str(node)
    return node
