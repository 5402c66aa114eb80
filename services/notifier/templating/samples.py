"""Built-in sample facts (a Chinese hazard, duty and digest) to try templates with.

They carry codes where the engine sends codes (region, industry, level, status, role,
duty, department ids in digests), so a check can see that every code is labelled."""

from __future__ import annotations

from copy import deepcopy
from typing import Any, Final

from services.notifier.templating.catalog import GROUP_ROLE

#: The date sample letters are issued on (a notice's ``due_at``).
SAMPLE_ISSUED_AT: Final = "2026-12-02T09:00:00+08:00"

HOSTILE_TEXT: Final = (
    "{{ 7*7 }}{% for x in y %}<script>alert(1)</script></table>"
    "[点此确认](http://evil.example/)<@all>@所有人**粗**_斜_`代码`# 标题"
)

_SAMPLE_HAZARD: Final[dict[str, object]] = {
    "hazard_id": "HZ-2026-0042",
    "title": "危化品仓库可燃气体报警装置失效",
    "description": "二号仓库东侧3个可燃气体报警探头失效，未及时维修更换",
    "level": "major",
    "found_by": "inspection",
    "unit_id": "U-0007",
    "unit_name": "白土镇宏达化工有限公司",
    "industry": "hazardous_chemicals",
    "region": "baitu",
    "deadline": "2026-12-01T18:00:00+08:00",
    "department": "应急管理办公室",
    "responsible_names": ["李强", "王伟"],
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
    "reminder": {"days_left": 3, "recipient_role": "responsible", "next_steps": ["letter"]},
    "escalation": {"days_overdue": 5, "recipient_role": "department", "occurrence": 1},
    "verification": {
        "status": "rectified",
        "percent": 100,
        "recipient_role": "department",
        "rectified_at": "2026-11-25T16:00:00+08:00",
    },
    "supervision": {"recipient_role": "principal", "next_steps": ["letter", "circular"]},
    "closure": {
        "status": "closed",
        "percent": 60,  # a stale progress report: closure must not show it
        "rectified_at": "2026-11-25T16:00:00+08:00",
        "closed_at": "2026-11-30T10:00:00+08:00",
    },
}
#: The escalation steps still ahead of each action under the example policy.
_AHEAD: Final[dict[str, list[str]]] = {
    "letter": ["circular", "interview", "exposure"],
    "circular": ["interview", "exposure"],
    "interview": ["exposure"],
    "exposure": [],
}
_DAYS_OVERDUE: Final[dict[str, int]] = {"letter": 5, "circular": 8, "interview": 12, "exposure": 21}
#: Whom a sample group post concerns (``facts["mentions"]``): one with every id, one
#: reachable by mobile only, one without a name (shown by role).
SAMPLE_MENTIONS: Final[list[dict[str, object]]] = [
    {
        "person_id": "P-0001",
        "name": "张建国",
        "role": "principal",
        "mobile": "13800000001",
        "wecom_userid": "zhangjianguo",
        "dingtalk_userid": "manager0001",
        "feishu_open_id": "ou_7d8a6e6df7621556ce0d21922b676706",
    },
    {
        "person_id": "P-0002",
        "name": "李明",
        "role": "department",
        "mobile": "13900000002",
        "wecom_userid": None,
        "dingtalk_userid": None,
        "feishu_open_id": None,
    },
    {
        "person_id": "P-0003",
        "name": None,
        "role": "leader",
        "mobile": None,
        "wecom_userid": "wangfang",
        "dingtalk_userid": "leader0003",
        "feishu_open_id": "ou_3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a88",
    },
]
#: The name of the sample work-chat group (a group post's ``recipient_name``).
SAMPLE_GROUP_NAME: Final = "白土镇安全生产工作群"
_SAMPLE_DUTY: Final[dict[str, object]] = {
    "duty": "principal_inspection",
    "subject_id": "U-0007",
    "subject_name": "白土镇宏达化工有限公司",
    "owed_by": "unit",
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
    "general_totals": {"open": 30, "overdue": 4, "closed": 21, "reported": 18},
    "by_found_by": [
        {"found_by": "self_check", "reported": 9, "major_reported": 1, "open": 20, "major_open": 5},
        {
            "found_by": "inspection",
            "reported": 10,
            "major_reported": 2,
            "open": 18,
            "major_open": 6,
        },
        {
            "found_by": "public_report",
            "reported": 3,
            "major_reported": 1,
            "open": 4,
            "major_open": 1,
        },
        {"found_by": "other", "reported": 0, "major_reported": 0, "open": 0, "major_open": 0},
    ],
    "department_ranking": [
        {
            "rank": 1,
            "ranked_of": 2,
            "department": "emergency",
            "open": 14,
            "overdue": 4,
            "major_overdue": 2,
            "closed": 6,
            "closed_on_time": 4,
            "on_time_rate": 67,
        },
        {
            "rank": 2,
            "ranked_of": 2,
            "department": "housing",
            "open": 9,
            "overdue": 1,
            "major_overdue": 0,
            "closed": 5,
            "closed_on_time": 5,
            "on_time_rate": 100,
        },
    ],
    "tasks_by_owner": [],
    "by_region": [
        {"region": "baitu", "open": 7, "overdue": 2, "closed": 3, "reported": 2},
        {"region": "qingyang", "open": 5, "overdue": 1, "closed": 2, "reported": 2},
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
            "region": "baitu",
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
        },
        {
            "subject_id": "housing",
            "subject_name": None,
            "duty": "weekly_report",
            "period_key": "2026-W48",
        },
    ],
}


def sample_facts(
    kind: str,
    action: str | None = None,
    *,
    empty: bool = False,
    hostile: bool = False,
    role: str | None = None,
) -> dict[str, object]:
    """Built-in sample facts for ``kind`` (a Chinese sample hazard, duty or digest).

    ``empty``: a digest with all zeros and empty lists. ``hostile``: every free text
    (titles, names, departments) replaced by markup that must stay inert. ``role``: the
    recipient's role (which picks the side's wording); ``"group"`` adds a group's name and
    the people its post mentions."""
    if kind == "digest":
        facts = _sample_digest(empty)
    elif kind == "duty":
        facts = deepcopy(_SAMPLE_DUTY)
    else:
        facts = deepcopy({**_SAMPLE_HAZARD, **_HAZARD_BY_KIND.get(kind, {})})
        if kind == "escalation":
            facts["days_overdue"] = _DAYS_OVERDUE.get(action or "letter", 5)
            facts["next_steps"] = list(_AHEAD.get(action or "letter", []))
    if role is not None:
        facts["recipient_role"] = role
    if role == GROUP_ROLE:
        # a notice goes to the groups on its first sending only
        facts.update(recipient_name=SAMPLE_GROUP_NAME, occurrence=0)
        facts["mentions"] = deepcopy(SAMPLE_MENTIONS)
    return _hostile(facts) if hostile else facts


def _sample_digest(empty: bool) -> dict[str, object]:
    facts = deepcopy(_SAMPLE_DIGEST)
    if empty:
        facts["totals"] = {"open": 0, "overdue": 0, "closed": 0, "reported": 0}
        facts["general_totals"] = {"open": 0, "overdue": 0, "closed": 0, "reported": 0}
        for key in (
            "by_region",
            "by_industry",
            "by_found_by",
            "department_ranking",
            "longest_overdue",
            "duties_missed",
        ):
            facts[key] = []
    return facts


_FREE_TEXT: Final = frozenset(
    {
        "title",
        "description",
        "unit_name",
        "department",
        "region",
        "recipient_name",
        "responsible_names",
        "subject_name",
        "name",
    }
)


def _hostile(value: object, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _hostile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v, key) for v in value]
    return HOSTILE_TEXT if key in _FREE_TEXT else value
