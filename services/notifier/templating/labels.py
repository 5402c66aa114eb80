"""Template filters that show codes, numbers and period keys as Chinese labels.

The labels themselves come from the config folder (labels.yaml, and the names of
departments and regions in directory.yaml); this module only applies them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from services.core.directory import LABEL_TABLES, NAME_TABLES, Directory, Labels, label_tables

_CN_DIGITS: Final = "零一二三四五六七八九"
_HALF: Final = {"1": "上半年", "2": "下半年"}


@dataclass(frozen=True)
class LabelSet:
    """Every code's Chinese label (from labels.yaml and directory.yaml) and the office.

    Python holds none of the labels: it only applies them. An unknown code is shown as
    it is, and ``duban config check`` warns about codes in the config without a label."""

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    office: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, labels: Labels, directory: Directory | None) -> LabelSet:
        """The labels of a checked config: labels.yaml and directory.yaml's names."""
        office = labels.office.model_dump() if labels.office else {}
        if office and not office.get("signature"):
            office["signature"] = office["name"]
        return cls(label_tables(labels, directory), office)

    def filters(self) -> dict[str, Callable[[object], str]]:
        """The template filters: ``role_label``, ``industry_label``, ``region_label``, …"""
        named = {**LABEL_TABLES, **NAME_TABLES}
        return {f: _labeller(self.tables.get(table, {})) for table, f in named.items()}

    def office_globals(self) -> dict[str, str | None]:
        """``office.name``, ``office.short_name``, ``office.signature``, ``office.phone``."""
        keys = ("name", "short_name", "signature", "phone")
        return {key: self.office.get(key) for key in keys}


def _labeller(labels: Mapping[str, str]) -> Callable[[object], str]:
    """A filter mapping codes to labels; an unknown code is shown as it is."""

    def label(value: object) -> str:
        if type(value) is str:
            return labels.get(value, value)
        if value is None:
            return ""
        return labels.get(str(value), str(value))

    return label


def mention_names(value: object, role_label: Callable[[object], str]) -> list[str]:
    """The people a group post names (``facts["mentions"]``): each one's name, else the
    label of their role; items that are not objects, or have neither, are left out."""
    if not isinstance(value, list | tuple):
        return []
    names = []
    for person in value:
        if not isinstance(person, Mapping):
            continue
        name = person.get("name") or role_label(person.get("role"))
        if name and str(name).strip():
            names.append(str(name).strip())
    return names


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
    """A period key in Chinese: ``2026-W48`` → 2026年第48周; other text as it is.

    Also ``2026-11`` → 2026年11月, ``2026-Q4`` → 2026年第四季度, ``2026-H2`` →
    2026年下半年 and ``2026`` → 2026年."""
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
