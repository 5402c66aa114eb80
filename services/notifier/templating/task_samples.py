"""Built-in sample facts of a supervised task (督办事项) to try the ``task.`` templates with,
as services.core.facts.task_facts builds them (codes where the engine sends codes)."""

from __future__ import annotations

from copy import deepcopy
from typing import Final

from services.notifier.templating.catalog import GROUP_ROLE
from services.notifier.templating.samples import SAMPLE_MENTIONS, sample_facts

_SAMPLE_TASK: Final[dict[str, object]] = {
    "subject_kind": "task",
    "task_id": "RW-2026-0009",
    "title": "报送安全生产治本攻坚三年行动重点工作方案",
    "description": "结合本行业实际制定工作方案，明确责任分工和时间节点",
    "owner_kind": "department",
    "owner_id": "emergency",
    "owner": "县应急管理局",
    "deadline": "2026-12-01T23:59:59+08:00",
    "days_left": None,
    "days_overdue": None,
    "assigned_by": "县安委会办公室",
    "reference": "县安委〔2026〕3号",
    "authority": None,
    "status": "rectifying",
    "percent": 60,
    "completed_at": None,
    "next_steps": None,
    "recipient_name": "张建国",
    "recipient_role": "department",
    "occurrence": 0,
}
_TASK_BY_KIND: Final[dict[str, dict[str, object]]] = {
    "reminder": {"days_left": 3, "next_steps": ["letter"]},
    "escalation": {"days_overdue": 5, "occurrence": 1},
    "closure": {"status": "closed", "completed_at": "2026-11-30T10:00:00+08:00"},
}
_AHEAD: Final[dict[str, list[str]]] = {
    "letter": ["circular", "interview"],
    "circular": ["interview"],
    "interview": [],
}


def sample_task_facts(
    kind: str, action: str | None = None, *, hostile: bool = False, role: str | None = None
) -> dict[str, object]:
    """Sample facts of a task notice of ``kind``/``action`` written to ``role``;
    ``hostile``: free text replaced by markup that must stay inert."""
    facts = deepcopy({**_SAMPLE_TASK, **_TASK_BY_KIND.get(kind, {})})
    if kind == "escalation":
        facts["next_steps"] = list(_AHEAD.get(action or "letter", []))
    if role is not None:
        facts["recipient_role"] = role
    if role == GROUP_ROLE:
        facts.update(recipient_name="安全生产工作群", occurrence=0)
        facts["mentions"] = deepcopy(SAMPLE_MENTIONS)
    if hostile:
        markup = str(sample_facts("reminder", hostile=True)["title"])
        for key in ("title", "description", "owner", "assigned_by", "reference"):
            facts[key] = markup
    return facts
