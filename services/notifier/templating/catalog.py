"""Notice kinds and actions, channel families, template file names and the result."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, get_args

from contracts.notice import EscalationAction, NoticeKind

KINDS: Final[tuple[str, ...]] = get_args(NoticeKind)
ACTIONS: Final[tuple[str, ...]] = get_args(EscalationAction)

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


def known_families(families: Collection[str]) -> frozenset[str]:
    """``families`` as a set; ValueError naming any that is not in FAMILIES."""
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


@dataclass(frozen=True, slots=True)
class Rendered:
    """One notice rendered for every channel family."""

    subject: str
    text: str
    html: str
    markdown: str
    sms_params: dict[str, str]
