"""Template errors, and turning Jinja's exceptions into messages that name the file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from jinja2 import TemplateSyntaxError

#: Joins "where it failed" to "which notice file was rendering"; check_templates splits
#: on it to report a broken shared file once rather than once per notice using it.
VIA: Final = " (while rendering "


class TemplateError(Exception):
    """A template could not be loaded or rendered; the message names file and cause."""

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        variable: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.template = template
        self.variable = variable
        self.line = line


class TemplateMissing(TemplateError):
    """No template file exists for a notice's kind/action in one channel family.

    It names the generic file (the last one looked for): the one every side falls back to."""

    def __init__(self, kind: str, action: str | None, family: str, expected: Sequence[str]) -> None:
        what = f"kind {kind!r}" + (f" action {action!r}" if action else "")
        super().__init__(
            f"{expected[-1]}: file missing (no {family} template for {what}; "
            f"looked for {' or '.join(expected)})",
            template=expected[-1],
        )
        self.kind = kind
        self.action = action
        self.family = family
        self.expected = tuple(expected)


def syntax_error(exc: TemplateSyntaxError) -> TemplateError:
    """A TemplateError for a syntax error: ``file:line: syntax error: ...``."""
    name = Path(exc.filename).name if exc.filename else (exc.name or "?")
    return TemplateError(
        f"{name}:{exc.lineno}: syntax error: {exc.message}", template=name, line=exc.lineno
    )


_UNDEFINED_RES: Final = (
    re.compile(r"'([^']+)' is undefined"),
    re.compile(r"has no attribute '([^']+)'"),
    re.compile(r"no element '?([^']+?)'?$"),
)


def undefined_name(message: str) -> str:
    """The variable, attribute or key an UndefinedError message is about."""
    for pattern in _UNDEFINED_RES:
        match = pattern.search(message)
        if match:
            return match[1]
    return message
