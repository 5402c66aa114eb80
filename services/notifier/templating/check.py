"""check_templates: render every notice against sample facts and list what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from services.notifier.templating.catalog import (
    ACTIONS,
    DEFAULT_TZ,
    FAMILIES,
    GROUP_ROLE,
    KINDS,
    NOTICE_VARIANTS,
    SIDE_OF_ROLE,
    SIDES,
    TASK_PREFIX,
    WORDING,
    Rendered,
)
from services.notifier.templating.errors import VIA, TemplateError, TemplateMissing
from services.notifier.templating.samples import (
    SAMPLE_ISSUED_AT,
    SAMPLE_MENTIONS,
    sample_facts,
)
from services.notifier.templating.task_samples import sample_task_facts
from services.notifier.templating.templateset import TemplateSet

_SUFFIXES: Final = (*FAMILIES.values(), WORDING)
#: Strings that must never reach an HTML or markdown body unescaped.
_HTML_FORBIDDEN: Final = ("<script>", "<@all>")
_MD_FORBIDDEN: Final = ("<script>", "<@all>", "](http://evil", "**粗**", "`代码`")
_SAMPLE_ACK: Final = "https://duban.example.gov.cn/ack/N-0001?p=P-0001"
#: A role of each side to render its files with; None renders the generic files.
_ROLE_OF_SIDE: Final[dict[str | None, str | None]] = {
    None: None,
    **{side: next(r for r, s in SIDE_OF_ROLE.items() if s == side) for side in SIDES},
}


def _parse(name: str) -> tuple[str, str | None, str | None] | str | None:
    """(kind, action, side) of a notice file name, a problem text, or None if not one."""
    suffix = next((s for s in _SUFFIXES if name.endswith("." + s)), None)
    if suffix is None or not name[:1].isalpha():
        return None
    kind, *rest = name[: -len(suffix) - 1].removeprefix(TASK_PREFIX).split(".")
    if kind not in KINDS:
        return f"{name}: unknown notice kind '{kind}' (known: {', '.join(KINDS)})"
    action = rest.pop(0) if rest and rest[0] not in SIDES else None
    side = rest.pop(0) if rest else None
    if action is not None and action not in ACTIONS:
        known = ", ".join((*ACTIONS, *SIDES))
        return f"{name}: unknown action or side '{action}' (known: {known})"
    if side not in (None, *SIDES):
        return f"{name}: unknown side '{side}' (known: {', '.join(SIDES)})"
    if rest:
        return f"{name}: too many parts; name it kind.action.side.{suffix}"
    return kind, action, side


def _variants_to_check(templates: TemplateSet, problems: list[str]) -> list[tuple[str, str | None]]:
    """The engine's variants plus any other kind/action that has files; flags unusable names."""
    variants = list(NOTICE_VARIANTS)
    for name in templates.files():
        parsed = _parse(name)
        if isinstance(parsed, str):
            problems.append(parsed)
        elif parsed is not None and parsed[:2] not in variants:
            variants.append(parsed[:2])
    return variants


def _check_variant(
    templates: TemplateSet, kind: str, action: str | None, problems: list[str]
) -> None:
    generic_sms: tuple[str, ...] | None = None
    for side, role in _ROLE_OF_SIDE.items():
        try:
            files = templates.variant_files(kind, action, side)
            sms = templates.sms_param_names(kind, action, side)
        except TemplateMissing as exc:
            problems.append(str(exc))
            return
        except TemplateError:
            return  # a file it needs failed to load: already reported
        generic_sms = sms if generic_sms is None else generic_sms
        if sms != generic_sms:
            problems.append(
                f"{files['sms']}: gives the SMS parameters {', '.join(sms)}, the other sides "
                f"{', '.join(generic_sms)}; a provider template serves every side alike"
            )
        _render_samples(templates, kind, action, role, files, problems)


def _render_samples(
    templates: TemplateSet,
    kind: str,
    action: str | None,
    role: str | None,
    files: Mapping[str, str],
    problems: list[str],
) -> None:
    samples = [sample_facts(kind, action, role=role)]
    if kind == "digest":
        samples.append(sample_facts(kind, action, empty=True, role=role))
    hostile = sample_facts(kind, action, hostile=True, role=role)
    try:
        for facts in samples:
            out = templates.render(kind, action, facts, _SAMPLE_ACK, issued_at=SAMPLE_ISSUED_AT)
            _check_rendered(out, files, problems, ack=role != GROUP_ROLE)
            if role == GROUP_ROLE:
                _check_group_post(out, files, problems)
        _check_inert(templates.render(kind, action, hostile, None), files, problems)
    except TemplateError as exc:
        problems.append(str(exc))
    if templates.has_task_files(kind, action):
        _render_task_samples(templates, kind, action, role, problems)


def _render_task_samples(
    templates: TemplateSet, kind: str, action: str | None, role: str | None, problems: list[str]
) -> None:
    """The ``task.`` wording of a kind, rendered as for a supervised task."""
    try:
        files = templates.variant_files(kind, action, SIDE_OF_ROLE.get(role or ""), "task")
        facts = sample_task_facts(kind, action, role=role)
        out = templates.render(kind, action, facts, _SAMPLE_ACK, issued_at=SAMPLE_ISSUED_AT)
        _check_rendered(out, files, problems, ack=role != GROUP_ROLE)
        hostile = sample_task_facts(kind, action, role=role, hostile=True)
        _check_inert(templates.render(kind, action, hostile, None), files, problems)
    except TemplateError as exc:
        problems.append(str(exc))


def _check_rendered(
    out: Rendered, files: Mapping[str, str], problems: list[str], *, ack: bool = True
) -> None:
    """Each body is there and, with ``ack``, shows the acknowledgement link (a group post
    has none: the renderer leaves it out)."""
    if not out.subject:
        problems.append(f"{files['subject']}: the subject is empty")
    for family, body in (("text", out.text), ("html", out.html), ("markdown", out.markdown)):
        if not body:
            problems.append(f"{files[family]}: the message is empty")
        elif ack and "duban.example.gov.cn/ack/N-0001" not in body:
            problems.append(f"{files[family]}: does not show the acknowledgement link (ack_url)")


def _check_group_post(out: Rendered, files: Mapping[str, str], problems: list[str]) -> None:
    """A group's own wording names everyone the post concerns (a group post that falls
    back to the department's wording need not)."""
    body = files.get("body", "")
    if f".{GROUP_ROLE}." not in body:
        return
    names = [str(m["name"]) for m in SAMPLE_MENTIONS if m["name"]]
    for family, text in (("text", out.text), ("markdown", out.markdown)):
        missing = [n for n in names if n not in text]
        if missing:
            problems.append(
                f"{body}: the group post ({files[family]}) does not name everyone it "
                f"concerns (missing {missing[0]}); list them with mentions | mention_names"
            )


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
    """Render every notice kind/action, for every recipient side, against sample facts;
    the problems found, if any.

    Each problem names the file relative to ``directory`` (``x.body.j2:12: ...``) and
    what is wrong. Besides loading and rendering, it checks that each body shows
    ``ack_url`` when given, that text from events (a sample hazard whose title is
    markup) stays escaped in the HTML and markdown bodies, that file names use known
    kinds, actions and sides, and that every side gives the same SMS parameters."""
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
