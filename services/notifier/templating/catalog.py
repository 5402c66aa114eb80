"""Notice kinds, actions and recipient sides, channel families, template file names and
the result."""

from __future__ import annotations

import functools
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
    ("reopened", None),
    ("deadline_changed", None),
    ("incomplete", None),
)

#: Channel families and the file-name ending of their template.
FAMILIES: Final[dict[str, str]] = {
    "subject": "subject.j2",
    "text": "text.j2",
    "html": "html.j2",
    "markdown": "md.j2",
    "sms": "sms.yaml",
}

#: The wording file of a notice (heading, paragraphs, demands), loaded by the layouts.
WORDING: Final = "body.j2"

#: Who a notice is written to. Each side is told only what is its own to do: the
#: enterprise rectifies, the department supervises, the committee office coordinates,
#: leaders and the listing authority oversee; a work-chat group is told what the notice
#: is about and whom it concerns (one post per notice, no personal acknowledgement link).
SIDES: Final[tuple[str, ...]] = (
    "enterprise",
    "department",
    "committee_office",
    "leader",
    "group",
)
#: The recipient role of a group robot's post (``recipient.person_id`` is ``group-<channel>``).
GROUP_ROLE: Final = "group"
#: A side whose own file is missing reads this side's before the generic file: a group
#: post that has no wording of its own says what the department is told.
SIDE_FALLBACK: Final[dict[str, str]] = {"group": "department"}
#: Sides whose messages never carry an acknowledgement link: anyone in a group could
#: follow it and acknowledge for someone else.
SIDES_WITHOUT_ACK: Final[frozenset[str]] = frozenset({"group"})
SIDE_OF_ROLE: Final[dict[str, str]] = {
    "principal": "enterprise",
    "controller": "enterprise",
    "safety_officer": "enterprise",
    "responsible": "enterprise",
    "five_package": "enterprise",
    "department": "department",
    "department_head": "department",
    "committee_office": "committee_office",
    "leader": "leader",
    "authority": "leader",
    GROUP_ROLE: "group",
}

#: Facts a notice may leave out; templates then see ``none`` (or 0) instead of failing.
OPTIONAL_FACTS: Final[dict[str, object]] = {
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
    "description": None,
    "responsible_names": None,
    "next_steps": None,
    "found_by": None,
    "owed_by": None,
    "rectified_at": None,
    "closed_at": None,
    "old_deadline": None,
    "reason": None,
    "missing": None,
    "mentions": None,
}


#: Chinese SMS providers cap a template variable at 35 characters.
SMS_PARAM_MAX: Final = 35

DEFAULT_TZ: Final = "Asia/Shanghai"


def known_families(families: Collection[str]) -> frozenset[str]:
    """``families`` as a set; ValueError naming any that is not in FAMILIES."""
    if type(families) is tuple:  # what the channels ask for, render after render
        return _known_tuple(families)
    return _known(families)


@functools.lru_cache(maxsize=64)
def _known_tuple(families: tuple[str, ...]) -> frozenset[str]:
    return _known(families)


def _known(families: Collection[str]) -> frozenset[str]:
    unknown = set(families) - FAMILIES.keys()
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    return frozenset(families)


def side_of(role: object) -> str | None:
    """The side (enterprise, department, committee_office, leader) of a recipient role."""
    return SIDE_OF_ROLE.get(str(role)) if role is not None else None


#: Prefix of the files that word a notice about a supervised task (督办事项): looked up
#: before the kind's own files when the facts say ``subject_kind: task``.
TASK_PREFIX: Final = "task."


def expected_files(
    kind: str,
    action: str | None,
    family: str,
    side: str | None = None,
    subject_kind: str | None = None,
) -> list[str]:
    """File names that may hold ``family`` for ``kind``/``action`` written to ``side``,
    most specific first: the action beats the side, so a side's file for a kind never
    stands in for an action's own (a duty reminder never words a duty letter)::

        kind.action.side.x  kind.action.x  kind.side.x  kind.x

    A side with a fallback (SIDE_FALLBACK) tries its own file, then the fallback's, at
    each level: ``kind.action.group.x  kind.action.department.x  kind.action.x
    kind.group.x  kind.department.x  kind.x``.

    ``family`` is a key of FAMILIES, or ``"body"`` for the wording file. For a task
    (``subject_kind`` "task") each of these names with ``task.`` in front comes first
    (``task.reminder.body.j2`` before ``reminder.body.j2``)."""
    suffix = WORDING if family == "body" else FAMILIES[family]
    sides = [side, SIDE_FALLBACK[side]] if side in SIDE_FALLBACK else [side] if side else []
    names = [f"{kind}.{action}.{s}.{suffix}" for s in sides] if action else []
    names += [f"{kind}.{action}.{suffix}"] if action else []
    names += [f"{kind}.{s}.{suffix}" for s in sides]
    names.append(f"{kind}.{suffix}")
    if subject_kind == "task":
        return [TASK_PREFIX + name for name in names] + names
    return names


@dataclass(frozen=True, slots=True)
class Rendered:
    """One notice rendered for every channel family."""

    subject: str
    text: str
    html: str
    markdown: str
    sms_params: dict[str, str]
