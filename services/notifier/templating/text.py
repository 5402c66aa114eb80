"""Text filters (markdown escaping, link targets, paragraphs) and output tidying."""

from __future__ import annotations

import functools
import re
from typing import Final
from urllib.parse import quote

_MD_REPLACEMENTS: Final = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\r": " ",
    "\n": " ",
    **{c: "\\" + c for c in "\\`*_[]()#@~|"},
}
_MD_SPECIAL_RE: Final = re.compile("[" + re.escape("".join(_MD_REPLACEMENTS)) + "]")
_MD_LINE_START: Final = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))")
#: Characters a list marker may start with; text starting otherwise skips that regex.
_MD_LEAD: Final = frozenset("-+=0123456789 \t\u3000")


def _md_replace(match: re.Match[str]) -> str:
    return _MD_REPLACEMENTS[match[0]]


def _md_unlist(match: re.Match[str]) -> str:
    """``- x`` → ``\\- x``, ``1. x`` → ``1\\. x``: not a list item."""
    indent, marker, number, dot = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\{dot}"


def md_escape(value: object) -> str:
    """Make user text inert in chat markdown: no links, mentions, emphasis, code or tags.

    ``< > &`` become HTML entities (WeCom ``<@userid>``, Feishu ``<at>`` and inline tags
    need a literal ``<``); markdown punctuation gets a backslash; line breaks become
    spaces so the text cannot start a heading, list or quote; a leading list marker is
    escaped too."""
    if value is None:
        return ""
    text = str(value)
    return _md_escape_short(text) if len(text) <= _MD_REMEMBERED_LEN else _md_escape_text(text)


#: md_escape remembers texts up to this long: labels, names and dates come back in
#: every message, and a cache hit costs a fraction of the regular expressions.
_MD_REMEMBERED_LEN: Final = 200


def _md_escape_text(text: str) -> str:
    if _MD_SPECIAL_RE.search(text):
        text = _MD_SPECIAL_RE.sub(_md_replace, text)
    if text[:1] in _MD_LEAD:
        return _MD_LINE_START.sub(_md_unlist, text, count=1)
    return text


_md_escape_short = functools.lru_cache(maxsize=4096)(_md_escape_text)
_URL_SAFE: Final = ":/?#@!$&*+,;=%~-._"


def md_url(value: object) -> str:
    """A URL fit for a markdown link target, percent-encoding what could end or split it.

    Spaces, brackets, quotes and angle brackets are encoded."""
    return "" if value is None else quote(str(value), safe=_URL_SAFE)


_BLANK_LINE_RE: Final = re.compile(r"\n[ \t\u3000]*\n")


def paragraphs(value: object) -> list[str]:
    """Split text at blank lines into paragraphs, dropping empty ones.

    The lines of one paragraph are joined without a space: Chinese needs none."""
    if value is None:
        return []
    found = []
    for chunk in _BLANK_LINE_RE.split(str(value)):
        joined = "".join(line.strip() for line in chunk.splitlines())
        if joined:
            found.append(joined)
    return found


def lines(value: object) -> list[str]:
    """Non-empty lines, stripped."""
    if value is None:
        return []
    return [line.strip() for line in str(value).splitlines() if line.strip()]


_MULTI_BLANK_RE: Final = re.compile(r"\n{3,}")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks too) made one space."""
    return " ".join(text.split())


def tidy(text: str) -> str:
    """Strip trailing spaces and keep at most one blank line between blocks."""
    stripped = "\n".join([line.rstrip() for line in text.strip().splitlines()])
    return _MULTI_BLANK_RE.sub("\n\n", stripped) if "\n\n\n" in stripped else stripped
