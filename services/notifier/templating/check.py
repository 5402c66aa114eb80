"""check_templates: render every notice against sample facts and list what is wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from services.notifier.templating.catalog import (
    ACTIONS,
    DEFAULT_TZ,
    FAMILIES,
    KINDS,
    NOTICE_VARIANTS,
    Rendered,
)
from services.notifier.templating.errors import VIA, TemplateError, TemplateMissing
from services.notifier.templating.samples import sample_facts
from services.notifier.templating.templateset import TemplateSet

_FILE_RE: Final = re.compile(
    r"^(?P<kind>[a-z][a-z0-9_]*)(?:\.(?P<action>[a-z][a-z0-9_]*))?"
    r"\.(?P<suffix>" + "|".join(re.escape(s) for s in FAMILIES.values()) + r")$"
)
#: Strings that must never reach an HTML or markdown body unescaped.
_HTML_FORBIDDEN: Final = ("<script>", "<@all>")
_MD_FORBIDDEN: Final = ("<script>", "<@all>", "](http://evil", "**粗**", "`代码`")
_SAMPLE_ACK: Final = "https://duban.example.gov.cn/ack/N-0001?p=P-0001"


def _variants_to_check(templates: TemplateSet, problems: list[str]) -> list[tuple[str, str | None]]:
    """The engine's variants plus any other kind/action that has files; flags unusable names."""
    variants = list(NOTICE_VARIANTS)
    for name in templates.files():
        match = _FILE_RE.match(name)
        if match is None:
            continue
        kind, action = match["kind"], match["action"]
        if kind not in KINDS:
            problems.append(f"{name}: unknown notice kind '{kind}' (known: {', '.join(KINDS)})")
        elif action is not None and action not in ACTIONS:
            problems.append(f"{name}: unknown action '{action}' (known: {', '.join(ACTIONS)})")
        elif (kind, action) not in variants:
            variants.append((kind, action))
    return variants


def _check_variant(
    templates: TemplateSet, kind: str, action: str | None, problems: list[str]
) -> None:
    try:
        files = templates.variant_files(kind, action)
    except TemplateMissing as exc:
        problems.append(str(exc))
        return
    except TemplateError:
        return  # a file it needs failed to load: already reported
    samples = [sample_facts(kind, action)]
    if kind == "digest":
        samples.append(sample_facts(kind, action, empty=True))
    try:
        for facts in samples:
            _check_rendered(templates.render(kind, action, facts, _SAMPLE_ACK), files, problems)
        _check_inert(
            templates.render(kind, action, sample_facts(kind, action, hostile=True), None),
            files,
            problems,
        )
    except TemplateError as exc:
        problems.append(str(exc))


def _check_rendered(out: Rendered, files: Mapping[str, str], problems: list[str]) -> None:
    if not out.subject:
        problems.append(f"{files['subject']}: the subject is empty")
    for family, body in (("text", out.text), ("html", out.html), ("markdown", out.markdown)):
        if not body:
            problems.append(f"{files[family]}: the message is empty")
        elif "duban.example.gov.cn/ack/N-0001" not in body:
            problems.append(f"{files[family]}: does not show the acknowledgement link (ack_url)")


def _check_inert(out: Rendered, files: Mapping[str, str], problems: list[str]) -> None:
    for family, body, forbidden in (
        ("html", out.html, _HTML_FORBIDDEN),
        ("markdown", out.markdown, _MD_FORBIDDEN),
    ):
        leaked = [s for s in forbidden if s in body]
        if leaked:
            hint = (
                "keep HTML templates named *.html.j2 (they escape automatically)"
                if family == "html"
                else "pass every fact through | md_escape"
            )
            problems.append(
                f"{files[family]}: text from the event reaches the message unescaped "
                f"(found {leaked[0]!r}); in this file and the files it uses (layout, "
                f"*.body.j2), {hint}"
            )


def check_templates(directory: Path, *, tz: str = DEFAULT_TZ) -> list[str]:
    """Render every notice kind/action against sample facts; the problems found, if any.

    Each problem names the file relative to ``directory`` (``x.body.j2:12: ...``) and
    what is wrong. Besides loading and rendering, it checks that each body shows
    ``ack_url`` when given, and that text from events (a sample hazard whose title is
    markup) stays escaped in the HTML and markdown bodies."""
    problems: list[str] = []
    try:
        templates = TemplateSet._load(Path(directory), tz, problems)
    except TemplateError as exc:
        return [str(exc)]
    for kind, action in _variants_to_check(templates, problems):
        _check_variant(templates, kind, action, problems)
    unique: dict[str, str] = {}  # one message per problem, whichever notice ran into it
    for problem in problems:
        unique.setdefault(problem.split(VIA)[0], problem)
    return list(unique.values())
