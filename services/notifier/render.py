"""Render notices from the ops-editable templates folder.

A notice of ``kind`` (and, for escalations and duty letters, ``action``) is rendered
into every channel family at once: an email subject, a plain-text and an HTML body, a
work-chat markdown body and the named parameters of a provider-side SMS template.
Each family comes from its own file, looked up most specific first::

    {kind}.{action}.subject.j2  then  {kind}.subject.j2
    {kind}.{action}.text.j2     then  {kind}.text.j2
    {kind}.{action}.html.j2     then  {kind}.html.j2
    {kind}.{action}.md.j2       then  {kind}.md.j2
    {kind}.{action}.sms.yaml    then  {kind}.sms.yaml

Templates run in Jinja's immutable sandbox with ``StrictUndefined``; only ``*.html.j2``
files autoescape. Facts are data: they are inserted into the output once and never
compiled, so a hazard title like ``{{ 7*7 }}`` is shown as typed. Markdown templates
pass user text through the ``md_escape`` filter; ``check_templates`` verifies they do.

Every template is compiled once by :meth:`TemplateSet.load`; :meth:`TemplateSet.render`
only evaluates them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2 import UndefinedError as _JinjaUndefinedError
from jinja2.environment import TemplateModule
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = [
    "ACTIONS",
    "FAMILIES",
    "KINDS",
    "NOTICE_VARIANTS",
    "SMS_PARAM_MAX",
    "Rendered",
    "TemplateError",
    "TemplateMissing",
    "TemplateSet",
    "check_templates",
    "expected_files",
    "md_escape",
    "sample_facts",
]

KINDS: Final[tuple[str, ...]] = (
    "report",
    "reminder",
    "escalation",
    "verification",
    "supervision",
    "closure",
    "duty",
    "digest",
)
ACTIONS: Final[tuple[str, ...]] = ("letter", "circular", "interview", "exposure")

#: Every (kind, action) the engine sends; the shipped templates cover each one.
NOTICE_VARIANTS: Final[tuple[tuple[str, str | None], ...]] = (
    ("report", None),
    ("reminder", None),
    ("escalation", "letter"),
    ("escalation", "circular"),
    ("escalation", "interview"),
    ("escalation", "exposure"),
    ("verification", None),
    ("supervision", None),
    ("closure", None),
    ("duty", None),
    ("duty", "letter"),
    ("digest", None),
)

#: Channel families and the file-name ending of their template.
FAMILIES: Final[dict[str, str]] = {
    "subject": "subject.j2",
    "text": "text.j2",
    "html": "html.j2",
    "markdown": "md.j2",
    "sms": "sms.yaml",
}

#: Chinese SMS providers cap a template variable at 35 characters.
SMS_PARAM_MAX: Final = 35

DEFAULT_TZ: Final = "Asia/Shanghai"
_DEFAULT_ZONE: Final = ZoneInfo(DEFAULT_TZ)

_FILE_RE: Final = re.compile(
    r"^(?P<kind>[a-z][a-z0-9_]*)(?:\.(?P<action>[a-z][a-z0-9_]*))?"
    r"\.(?P<suffix>subject\.j2|text\.j2|html\.j2|md\.j2|sms\.yaml)$"
)
_PARAM_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Facts a notice may leave out; templates then see ``none`` (or 0) instead of failing.
_OPTIONAL_FACTS: Final[dict[str, object]] = {
    "unit_name": None,
    "industry": None,
    "region": None,
    "deadline": None,
    "department": None,
    "authority": None,
    "days_left": None,
    "days_overdue": None,
    "status": None,
    "percent": None,
    "recipient_name": None,
    "recipient_role": None,
    "occurrence": 0,
    "subject_name": None,
}


# --------------------------------------------------------------------------- errors


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
    """No template file exists for a notice's kind/action in one channel family."""

    def __init__(self, kind: str, action: str | None, family: str, expected: Sequence[str]) -> None:
        what = f"kind {kind!r}" + (f" action {action!r}" if action else "")
        super().__init__(
            f"{expected[0]}: file missing (no {family} template for {what}; "
            f"looked for {' or '.join(expected)})",
            template=expected[0],
        )
        self.kind = kind
        self.action = action
        self.family = family
        self.expected = tuple(expected)


def _known_families(families: Collection[str]) -> frozenset[str]:
    unknown = set(families) - FAMILIES.keys()
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    return frozenset(families)


def expected_files(kind: str, action: str | None, family: str) -> list[str]:
    """File names that may hold ``family`` for ``kind``/``action``, most specific first."""
    suffix = FAMILIES[family]
    names = [f"{kind}.{action}.{suffix}"] if action else []
    names.append(f"{kind}.{suffix}")
    return names


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class Rendered:
    """One notice rendered for every channel family."""

    subject: str
    text: str
    html: str
    markdown: str
    sms_params: dict[str, str]


# --------------------------------------------------------------------------- filters

LEVEL_LABELS: Final = {"major": "重大事故隐患", "general": "一般隐患"}
AUTHORITY_LABELS: Final = {
    "town": "镇级挂牌督办",
    "county": "县级挂牌督办",
    "city": "市级挂牌督办",
    "province": "省级挂牌督办",
}
ACTION_LABELS: Final = {
    "letter": "函告",
    "circular": "通报",
    "interview": "约谈",
    "exposure": "曝光",
}
DUTY_LABELS: Final = {
    "principal_inspection": "主要负责人带队检查",
    "evacuation_drill": "应急疏散演练",
    "weekly_report": "周上报",
    "monthly_analysis_meeting": "月度安全生产分析会",
}
ROLE_LABELS: Final = {
    "principal": "主要负责人",
    "controller": "实际控制人",
    "actual_controller": "实际控制人",
    "safety_officer": "安全管理人员",
    "responsible": "整改责任人",
    "five_package": "五包一责任人",
    "department": "行业主管部门",
    "committee_office": "安委会办公室",
    "leader": "分管领导",
    "authority": "挂牌督办单位",
}
INDUSTRY_LABELS: Final = {
    "non_coal_mine": "非煤矿山",
    "tailings_pond": "尾矿库",
    "hazardous_chemicals": "危险化学品",
    "fireworks": "烟花爆竹",
    "industry_trade": "工贸",
    "metal_smelting": "金属冶炼",
    "construction": "建筑施工",
    "gas": "城镇燃气",
    "self_built_housing": "自建房",
    "special_equipment": "特种设备",
    "fire_safety": "消防",
    "road_transport": "道路运输",
    "waterway_transport": "水路运输",
    "road_traffic": "道路交通",
    "education": "教育",
    "elderly_care": "养老服务",
    "culture_tourism": "文化旅游",
    "medical": "医疗卫生",
    "power": "电力",
    "agriculture_machinery": "农业机械",
}
_CN_DIGITS: Final = "零一二三四五六七八九"
_HALF: Final = {"1": "上半年", "2": "下半年"}


def _labeller(labels: Mapping[str, str]) -> Callable[[object], str]:
    """A filter mapping codes to Chinese labels; unknown codes are shown as they are."""

    def label(value: object) -> str:
        if value is None:
            return ""
        return labels.get(str(value), str(value))

    return label


level_label = _labeller(LEVEL_LABELS)
authority_label = _labeller(AUTHORITY_LABELS)
action_label = _labeller(ACTION_LABELS)
duty_label = _labeller(DUTY_LABELS)
role_label = _labeller(ROLE_LABELS)
industry_label = _labeller(INDUSTRY_LABELS)


def _parse_moment(value: object, tz: tzinfo) -> datetime | date | None:
    """A datetime (converted to ``tz`` when aware) or a plain date; None if unparsable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return moment.astimezone(tz) if moment.tzinfo is not None else moment


def _cn_day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def cn_datetime(value: object, tz: tzinfo = _DEFAULT_ZONE) -> str:
    """``2026-12-01T18:00:00+08:00`` → ``2026年12月1日 18:00``; a bare date has no time."""
    if value is None or value == "":
        return ""
    moment = _parse_moment(value, tz)
    if moment is None:
        return str(value)
    if isinstance(moment, datetime):
        return f"{_cn_day(moment)} {moment.hour:02d}:{moment.minute:02d}"
    return _cn_day(moment)


def cn_date(value: object, tz: tzinfo = _DEFAULT_ZONE) -> str:
    """``2026-12-01T18:00:00+08:00`` or ``2026-12-01`` → ``2026年12月1日``."""
    if value is None or value == "":
        return ""
    moment = _parse_moment(value, tz)
    return str(value) if moment is None else _cn_day(moment)


def cn_end_date(value: object, tz: tzinfo = _DEFAULT_ZONE) -> str:
    """The last day of a period whose exclusive end is ``value``: an end at midnight
    (``2027-01-01T00:00:00+08:00``) → ``2026年12月31日``; any other instant → its day."""
    if value is None or value == "":
        return ""
    moment = _parse_moment(value, tz)
    if moment is None:
        return str(value)
    if isinstance(moment, datetime):
        day = moment.date()
        if moment.time() == time(0, 0):
            day -= timedelta(days=1)
        return _cn_day(day)
    return _cn_day(moment)


def cn_num(value: object) -> str:
    """1 → 一, 12 → 十二, 35 → 三十五 (0–99); other values as they are."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 100:
        return str(value)
    tens, ones = divmod(value, 10)
    if tens == 0:
        return _CN_DIGITS[ones]
    head = "" if tens == 1 else _CN_DIGITS[tens]
    return head + "十" + (_CN_DIGITS[ones] if ones else "")


_PERIOD_PATTERNS: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]] = (
    (re.compile(r"^(\d{4})-W(\d{1,2})$"), lambda m: f"{m[1]}年第{int(m[2])}周"),
    (re.compile(r"^(\d{4})-(\d{1,2})$"), lambda m: f"{m[1]}年{int(m[2])}月"),
    (re.compile(r"^(\d{4})-Q([1-4])$"), lambda m: f"{m[1]}年第{cn_num(int(m[2]))}季度"),
    (re.compile(r"^(\d{4})-H([12])$"), lambda m: f"{m[1]}年{_HALF[m[2]]}"),
    (re.compile(r"^(\d{4})$"), lambda m: f"{m[1]}年"),
)


def period_label(value: object) -> str:
    """Period keys: ``2026-W48`` → 2026年第48周, ``2026-11`` → 2026年11月,
    ``2026-Q4`` → 2026年第四季度, ``2026-H2`` → 2026年下半年, ``2026`` → 2026年."""
    if value is None:
        return ""
    text = str(value)
    for pattern, label in _PERIOD_PATTERNS:
        match = pattern.match(text)
        if match:
            return label(match)
    return text


def percent_label(value: object) -> str:
    """60 → ``60%``; none → empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}%"


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
    if _MD_SPECIAL_RE.search(text):
        text = _MD_SPECIAL_RE.sub(_md_replace, text)
    if text[:1] in _MD_LEAD:
        return _MD_LINE_START.sub(_md_unlist, text, count=1)
    return text


_URL_SAFE: Final = ":/?#@!$&*+,;=%~-._"


def md_url(value: object) -> str:
    """A URL fit for a markdown link target: characters that could end or split the
    target (spaces, brackets, quotes, angle brackets) are percent-encoded."""
    return "" if value is None else quote(str(value), safe=_URL_SAFE)


_BLANK_LINE_RE: Final = re.compile(r"\n[ \t\u3000]*\n")


def paragraphs(value: object) -> list[str]:
    """Split text at blank lines into paragraphs; the lines of one paragraph are joined
    (Chinese needs no space between them) and empty paragraphs are dropped."""
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


def _formatters(tz: tzinfo) -> dict[str, Callable[[object], str]]:
    return {
        "": lambda v: "" if v is None else str(v),
        "date": lambda v: cn_date(v, tz),
        "datetime": lambda v: cn_datetime(v, tz),
        "level": level_label,
        "industry": industry_label,
        "duty": duty_label,
        "authority": authority_label,
        "action": action_label,
        "role": role_label,
        "period": period_label,
        "percent": percent_label,
        "days": lambda v: "" if v is None else f"{v}天",
    }


def _make_cells(tz: tzinfo) -> Callable[[object, object], list[tuple[str, str]]]:
    formats = _formatters(tz)

    def cells(item: object, columns: object) -> list[tuple[str, str]]:
        """``(label, text)`` for each column ``[label, key]`` or ``[label, key, format]``
        of a table row; ``key`` may list fallbacks: ``"subject_name|subject_id"``."""
        if not isinstance(item, Mapping) or not isinstance(columns, Sequence):
            raise TypeError("cells: expects a mapping row and a list of columns")
        found = []
        for column in columns:
            label, key, how = [*column, ""][:3]
            if how not in formats:
                raise ValueError(f"unknown column format {how!r}; known: {', '.join(formats)}")
            value = next(
                (item[k] for k in str(key).split("|") if item.get(k) not in (None, "")), None
            )
            found.append((str(label), formats[how](value) or "—"))
        return found

    return cells


def _filters(tz: tzinfo) -> dict[str, Callable[..., Any]]:
    return {
        "cn_datetime": lambda v: cn_datetime(v, tz),
        "cn_date": lambda v: cn_date(v, tz),
        "cn_end_date": lambda v: cn_end_date(v, tz),
        "cn_num": cn_num,
        "level_label": level_label,
        "authority_label": authority_label,
        "action_label": action_label,
        "duty_label": duty_label,
        "role_label": role_label,
        "industry_label": industry_label,
        "period_label": period_label,
        "percent_label": percent_label,
        "md_escape": md_escape,
        "md_url": md_url,
        "paragraphs": paragraphs,
        "lines": lines,
        "cells": _make_cells(tz),
    }


def _finalize(value: object) -> object:
    """``{{ x }}`` with x = none prints nothing (not "None")."""
    return "" if value is None else value


_CACHE: Final = "_render_cache"
_VIA: Final = " (while rendering "
_PLAIN_TYPES: Final = (TemplateModule, LoopContext)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a fast path for template modules (``load(...)``) and
    ``loop``: they only expose template values and loop counters, so the generic
    attribute checks (costly on the hot path) reduce to refusing ``_private`` names."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) in _PLAIN_TYPES:
            return not attr.startswith("_")
        return bool(super().is_safe_attribute(obj, attr, value))


@pass_context
def _load(context: Context, name: str) -> TemplateModule:
    """``{% set b = load("x.body.j2") %}``: the variables ``x.body.j2`` sets, evaluated with
    the notice's facts once per render and shared by the subject, text, HTML and markdown
    templates (like ``{% import "x.body.j2" as b with context %}``, without the repeats)."""
    cache = context.get(_CACHE)
    module = cache.get(name) if isinstance(cache, dict) else None
    if module is None:
        template = context.environment.get_template(name)
        module = template.make_module(context.get_all(), shared=True)
        if isinstance(cache, dict):
            cache[name] = module
    return module


def _make_env(directory: Path, tz: tzinfo) -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        loader=FileSystemLoader(str(directory), encoding="utf-8"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "html.j2", "htm.j2"),
            disabled_extensions=(),
            default_for_string=False,
            default=False,
        ),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(_filters(tz))
    env.globals["load"] = _load
    return env


# --------------------------------------------------------------------------- output tidying

_MULTI_BLANK_RE: Final = re.compile(r"\n{3,}")
_SMS_CHARS: Final = str.maketrans({"【": "〔", "】": "〕"})


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy(text: str) -> str:
    """Strip trailing spaces and keep at most one blank line between blocks."""
    stripped = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return _MULTI_BLANK_RE.sub("\n\n", stripped)


def _sms_value(text: str) -> str:
    """One line, no characters providers reject, at most SMS_PARAM_MAX characters,
    never empty (providers refuse empty variables)."""
    value = _one_line(text).translate(_SMS_CHARS) or "无"
    if len(value) > SMS_PARAM_MAX:
        value = value[: SMS_PARAM_MAX - 1] + "…"
    return value


# --------------------------------------------------------------------------- template set


@dataclass(frozen=True, slots=True)
class _Variant:
    """The resolved templates of one (kind, action)."""

    files: dict[str, str]
    subject: Template
    text: Template
    html: Template
    markdown: Template
    sms: _SmsParams


_UNDEFINED_RES: Final = (
    re.compile(r"'([^']+)' is undefined"),
    re.compile(r"has no attribute '([^']+)'"),
    re.compile(r"no element '?([^']+?)'?$"),
)


def _undefined_name(message: str) -> str:
    for pattern in _UNDEFINED_RES:
        match = pattern.search(message)
        if match:
            return match[1]
    return message


class TemplateSet:
    """The compiled templates of one folder. Build with :meth:`load`; thread-safe to render."""

    def __init__(
        self,
        directory: Path,
        templates: Mapping[str, Template],
        sms: Mapping[str, _SmsParams],
        origins: Mapping[str, str],
        broken: frozenset[str] = frozenset(),
    ) -> None:
        self.directory = directory
        self._broken = broken
        self._templates = dict(templates)
        self._sms = dict(sms)
        self._origins = dict(origins)
        self._files = frozenset(self._templates) | frozenset(self._sms)
        self._variants: dict[tuple[str, str | None], _Variant] = {}

    # -- loading

    @classmethod
    def load(cls, directory: Path, *, tz: str = DEFAULT_TZ) -> TemplateSet:
        """Compile every ``*.j2`` and ``*.sms.yaml`` file in ``directory``.

        Raises :class:`TemplateError` naming the file and line of the first problem."""
        return cls._load(Path(directory), tz, problems=None)

    @classmethod
    def _load(cls, directory: Path, tz: str, problems: list[str] | None) -> TemplateSet:
        if not directory.is_dir():
            raise TemplateError(f"{directory}: template folder not found", template=str(directory))
        env = _make_env(directory, ZoneInfo(tz))
        templates: dict[str, Template] = {}
        sms: dict[str, _SmsParams] = {}
        origins: dict[str, str] = {}
        broken: set[str] = set()
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            try:
                if path.name.endswith(".j2"):
                    template = _compile(env, path.name)
                    templates[path.name] = template
                    origins[template.filename or path.name] = path.name
                elif path.name.endswith(FAMILIES["sms"]):
                    sms[path.name] = _load_sms(env, path, origins)
            except TemplateError as exc:
                if problems is None:
                    raise
                problems.append(str(exc))
                broken.add(path.name)
        return cls(directory, templates, sms, origins, frozenset(broken))

    # -- lookup

    def files(self) -> list[str]:
        """Names of the loaded template files."""
        return sorted(self._files)

    def variant_files(self, kind: str, action: str | None) -> dict[str, str]:
        """Family → file name used for ``kind``/``action``; raises TemplateMissing."""
        return dict(self._variant(kind, action).files)

    def sms_param_names(self, kind: str, action: str | None) -> tuple[str, ...]:
        """Names of the SMS parameters ``kind``/``action`` renders; raises TemplateMissing."""
        return self._variant(kind, action).sms.names

    def _variant(self, kind: str, action: str | None) -> _Variant:
        key = (kind, action)
        variant = self._variants.get(key)
        if variant is None:
            variant = self._resolve(kind, action)
            self._variants[key] = variant
        return variant

    def _resolve(self, kind: str, action: str | None) -> _Variant:
        files: dict[str, str] = {}
        for family in FAMILIES:
            expected = expected_files(kind, action, family)
            found = next((n for n in expected if n in self._files or n in self._broken), None)
            if found is None:
                raise TemplateMissing(kind, action, family, expected)
            if found in self._broken:
                raise TemplateError(f"{found}: could not be loaded", template=found)
            files[family] = found
        return _Variant(
            files=files,
            subject=self._templates[files["subject"]],
            text=self._templates[files["text"]],
            html=self._templates[files["html"]],
            markdown=self._templates[files["markdown"]],
            sms=self._sms[files["sms"]],
        )

    # -- rendering

    def render(
        self,
        kind: str,
        action: str | None,
        facts: Mapping[str, object],
        ack_url: str | None,
        *,
        families: Collection[str] | None = None,
    ) -> Rendered:
        """Render one notice in every family (or only ``families``, e.g. ``("subject",
        "markdown")`` for a chat robot; the others are then left empty).

        Raises :class:`TemplateMissing` when no file exists for a family and
        :class:`TemplateError` when a template fails (e.g. an undefined variable)."""
        variant = self._variant(kind, action)
        wanted = FAMILIES.keys() if families is None else _known_families(families)
        if ack_url is not None and not ack_url.startswith(("https://", "http://")):
            raise TemplateError(f"ack_url must be an http(s) URL, got {ack_url[:40]!r}")
        context: dict[str, Any] = dict(_OPTIONAL_FACTS)
        context.update(facts)
        context["kind"] = kind
        context["action"] = action
        context["ack_url"] = ack_url
        context[_CACHE] = {}
        subject = _one_line(self._run(variant.subject, context, variant.files["subject"]))
        context["subject"] = subject
        files = variant.files

        def body(family: str, template: Template) -> str:
            return self._run(template, context, files[family]) if family in wanted else ""

        return Rendered(
            subject=subject if "subject" in wanted else "",
            text=_tidy(body("text", variant.text)),
            html=body("html", variant.html).strip(),
            markdown=_tidy(body("markdown", variant.markdown)),
            sms_params=self._sms_params(variant.sms, context) if "sms" in wanted else {},
        )

    def _sms_params(self, sms: _SmsParams, context: Mapping[str, Any]) -> dict[str, str]:
        if sms.template is None:
            return {}
        try:
            module = sms.template.make_module(dict(context))
        except Exception as exc:
            raise self._wrap(exc, sms.file) from exc
        return {name: _sms_value(str(getattr(module, f"p{i}"))) for i, name in enumerate(sms.names)}

    def _run(self, template: Template, context: Mapping[str, Any], entry: str) -> str:
        try:
            return template.render(context)
        except TemplateError:
            raise
        except Exception as exc:
            raise self._wrap(exc, entry) from exc

    def _wrap(self, exc: Exception, entry: str) -> TemplateError:
        """A TemplateError naming the file and line where ``exc`` happened."""
        if isinstance(exc, TemplateSyntaxError):
            return _syntax_error(exc)
        where, line = self._locate(exc.__traceback__) or (entry, None)
        sms = self._sms.get(where)
        if sms is not None and line is not None:
            where, line = f"{where}, param '{sms.param_at(line)}'", None
        at = f"{where}:{line}" if line else where
        via = "" if where == entry else f"{_VIA}{entry})"
        if isinstance(exc, _JinjaUndefinedError):
            name = _undefined_name(exc.message or str(exc))
            message = f"{at}: undefined variable '{name}'{via}"
            return TemplateError(message, template=where, variable=name, line=line)
        if isinstance(exc, SecurityError):
            return TemplateError(f"{at}: not allowed in templates: {exc}{via}", template=where)
        message = f"{at}: {type(exc).__name__}: {exc}{via}"
        return TemplateError(message, template=where, line=line)

    def _locate(self, tb: TracebackType | None) -> tuple[str, int] | None:
        """The innermost template frame of a traceback: (file name, template line)."""
        found = None
        while tb is not None:
            name = self._origins.get(tb.tb_frame.f_code.co_filename)
            if name is not None:
                found = (name, tb.tb_lineno)
            tb = tb.tb_next
        return found


def _syntax_error(exc: TemplateSyntaxError) -> TemplateError:
    name = Path(exc.filename).name if exc.filename else (exc.name or "?")
    return TemplateError(
        f"{name}:{exc.lineno}: syntax error: {exc.message}", template=name, line=exc.lineno
    )


def _compile(env: ImmutableSandboxedEnvironment, name: str) -> Template:
    try:
        return env.get_template(name)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{name}: not UTF-8 text ({exc.reason})", template=name) from exc


@dataclass(frozen=True, slots=True)
class _SmsParams:
    """The compiled ``params:`` of one ``*.sms.yaml`` file: one template that sets
    ``p0``, ``p1``, ... (one context per render instead of one per parameter)."""

    file: str
    names: tuple[str, ...]
    starts: tuple[int, ...]
    """First template line of each parameter, to name it in error messages."""
    template: Template | None

    def param_at(self, line: int) -> str | None:
        index = bisect_right(self.starts, line) - 1
        return self.names[index] if index >= 0 else None


def _yaml_error(path: Path, exc: YAMLError) -> TemplateError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    message = f"{path.name}:{line}: invalid YAML: {problem}" if line else f"{path.name}: {problem}"
    if "{" in problem or "unhashable" in problem:
        message += ' (write values that contain {{ … }} in double quotes: title: "{{ title }}")'
    return TemplateError(message, template=path.name, line=line)


def _read_sms_params(path: Path) -> dict[str, str]:
    try:
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise _yaml_error(path, exc) from exc
    if not isinstance(document, dict) or set(document) != {"params"}:
        raise TemplateError(f"{path.name}: expected one key 'params:'", template=path.name)
    params = document["params"] or {}
    if not isinstance(params, dict):
        raise TemplateError(f"{path.name}: 'params' must map names to values", template=path.name)
    for name, source in params.items():
        where = f"{path.name}, param '{name}'"
        if not isinstance(name, str) or not _PARAM_NAME_RE.match(name):
            raise TemplateError(f"{where}: a name uses letters, digits and _", template=path.name)
        if not isinstance(source, str):
            raise TemplateError(
                f'{where}: the value must be a quoted text, e.g. {name}: "{{{{ title }}}}"',
                template=path.name,
            )
    return params


def _load_sms(
    env: ImmutableSandboxedEnvironment, path: Path, origins: dict[str, str]
) -> _SmsParams:
    """Parse ``params: {name: "jinja text", ...}`` and compile the values together."""
    params = _read_sms_params(path)
    filename = str(path)
    starts: list[int] = []
    parts: list[str] = []
    line = 1
    for index, (name, source) in enumerate(params.items()):
        try:
            env.parse(source, name=path.name)
        except TemplateSyntaxError as exc:
            where = f"{path.name}, param '{name}'"
            raise TemplateError(f"{where}: {exc.message}", template=path.name) from exc
        starts.append(line)
        parts.append(f"{{% set p{index} %}}{source}{{% endset %}}\n")
        line += source.count("\n") + 1
    origins[filename] = path.name
    template = None
    if parts:
        code = env.compile("".join(parts), name=path.name, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
    return _SmsParams(path.name, tuple(params), tuple(starts), template)


# --------------------------------------------------------------------------- checking

HOSTILE_TEXT: Final = (
    "{{ 7*7 }}{% for x in y %}<script>alert(1)</script></table>"
    "[点此确认](http://evil.example/)<@all>@所有人**粗**_斜_`代码`# 标题"
)
#: Strings that must never reach an HTML or markdown body unescaped.
_HTML_FORBIDDEN: Final = ("<script>", "<@all>")
_MD_FORBIDDEN: Final = ("<script>", "<@all>", "](http://evil", "**粗**", "`代码`")

_SAMPLE_HAZARD: Final[dict[str, object]] = {
    "hazard_id": "HZ-2026-0042",
    "title": "危化品仓库可燃气体报警装置失效",
    "level": "major",
    "unit_id": "U-0007",
    "unit_name": "白土镇宏达化工有限公司",
    "industry": "hazardous_chemicals",
    "region": "白土镇",
    "deadline": "2026-12-01T18:00:00+08:00",
    "department": "县应急管理局",
    "authority": "county",
    "days_left": None,
    "days_overdue": None,
    "status": "rectifying",
    "percent": 60,
    "recipient_name": "张建国",
    "recipient_role": "principal",
    "occurrence": 0,
}
_HAZARD_BY_KIND: Final[dict[str, dict[str, object]]] = {
    "report": {"status": "reported", "percent": None},
    "reminder": {"days_left": 3, "recipient_role": "responsible"},
    "escalation": {"days_overdue": 5, "recipient_role": "department", "occurrence": 1},
    "verification": {"status": "rectified", "percent": 100, "recipient_role": "department"},
    "supervision": {"recipient_role": "principal"},
    "closure": {"status": "closed", "percent": 100},
}
_SAMPLE_DUTY: Final[dict[str, object]] = {
    "duty": "principal_inspection",
    "subject_id": "U-0007",
    "subject_name": "白土镇宏达化工有限公司",
    "period_key": "2026-Q4",
    "period_end": "2027-01-01T00:00:00+08:00",
    "recipient_name": "张建国",
    "recipient_role": "principal",
}
_SAMPLE_DIGEST: Final[dict[str, object]] = {
    "period": "weekly",
    "period_key": "2026-W48",
    "period_start": "2026-11-23T00:00:00+08:00",
    "period_end": "2026-11-30T00:00:00+08:00",
    "recipient_name": "李明",
    "recipient_role": "committee_office",
    "totals": {"open": 12, "overdue": 3, "closed": 5, "reported": 4},
    "by_region": [
        {"region": "白土镇", "open": 7, "overdue": 2, "closed": 3, "reported": 2},
        {"region": "青阳镇", "open": 5, "overdue": 1, "closed": 2, "reported": 2},
    ],
    "by_industry": [
        {"industry": "hazardous_chemicals", "open": 6, "overdue": 2, "closed": 1, "reported": 2},
        {"industry": "construction", "open": 6, "overdue": 1, "closed": 4, "reported": 2},
    ],
    "longest_overdue": [
        {
            "hazard_id": "HZ-2026-0007",
            "title": "尾矿库排洪设施淤堵",
            "unit_name": "栾川某矿业有限公司",
            "region": "白土镇",
            "industry": "tailings_pond",
            "deadline": "2026-10-31",
            "days_overdue": 29,
        }
    ],
    "duties_missed": [
        {
            "subject_id": "U-0011",
            "subject_name": "青阳镇某建筑公司",
            "duty": "evacuation_drill",
            "period_key": "2026-H2",
        }
    ],
}


def sample_facts(
    kind: str, action: str | None = None, *, empty: bool = False, hostile: bool = False
) -> dict[str, object]:
    """Built-in sample facts for ``kind`` (a Chinese sample hazard, duty or digest).

    ``empty``: a digest with all zeros and empty lists. ``hostile``: every free text
    (titles, names, departments) replaced by markup that must stay inert."""
    if kind == "digest":
        facts = _sample_digest(empty)
    elif kind == "duty":
        facts = deepcopy(_SAMPLE_DUTY)
    else:
        facts = {**_SAMPLE_HAZARD, **_HAZARD_BY_KIND.get(kind, {})}
        if action and kind == "escalation" and action != "letter":
            facts["days_overdue"] = {"circular": 8, "interview": 12, "exposure": 21}.get(action, 5)
    return _hostile(facts) if hostile else facts


def _sample_digest(empty: bool) -> dict[str, object]:
    facts = deepcopy(_SAMPLE_DIGEST)
    if empty:
        facts["totals"] = {"open": 0, "overdue": 0, "closed": 0, "reported": 0}
        for key in ("by_region", "by_industry", "longest_overdue", "duties_missed"):
            facts[key] = []
    return facts


_FREE_TEXT: Final = frozenset(
    {"title", "unit_name", "department", "region", "recipient_name", "subject_name"}
)


def _hostile(value: object, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _hostile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v, key) for v in value]
    return HOSTILE_TEXT if key in _FREE_TEXT else value


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


_SAMPLE_ACK: Final = "https://duban.example.gov.cn/ack/N-0001?p=P-0001"


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
    """Render every template of every notice kind/action against sample facts and
    return the problems found, each naming the file relative to ``directory``
    (``x.body.j2:12: ...``) and what is wrong; empty when all is well.

    Besides loading and rendering, it checks that each body shows ``ack_url`` when
    given, and that text from events (a sample hazard whose title is markup) stays
    escaped in the HTML and markdown bodies."""
    problems: list[str] = []
    try:
        templates = TemplateSet._load(Path(directory), tz, problems)
    except TemplateError as exc:
        return [str(exc)]
    for kind, action in _variants_to_check(templates, problems):
        _check_variant(templates, kind, action, problems)
    unique: dict[str, str] = {}  # one message per problem, whichever notice ran into it
    for problem in problems:
        unique.setdefault(problem.split(_VIA)[0], problem)
    return list(unique.values())
