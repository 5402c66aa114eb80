"""Template variables of a hazard or task notice: what it is, and where it stands at a moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.core.recipients import department_of, person_of, resolve, subject_of
from services.core.state import HazardState, UnitInfo

if TYPE_CHECKING:
    from services.core.evaluate import Rules


def hazard_facts(
    state: HazardState,
    unit: UnitInfo | None,
    rules: Rules,
    at: datetime,
    next_steps: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Template variables describing the hazard at `at` (JSON values only).

    `next_steps` are the escalation actions its rules have still ahead (None: unknown)."""
    department = department_of(subject_of(state), rules.index)
    ref = state.unit
    days = _days_past(state, rules, at)
    return {
        "hazard_id": state.hazard_id,
        "title": state.title,
        "description": state.description,
        "level": state.level,
        "found_by": state.found_by,
        "unit_id": ref.id if ref else None,
        "unit_name": (unit.name if unit and unit.name else None) or (ref.name if ref else None),
        "industry": ref.industry if ref else None,
        "region": ref.region if ref else None,
        "deadline": _iso(state.deadline),
        "department": department.id if department else None,
        "responsible_names": responsible_names(state, unit, rules),
        "authority": state.listed_by,
        "days_left": -days if days is not None and days <= 0 else None,
        "days_overdue": days if days is not None and days > 0 else None,
        "status": state.status,
        "percent": state.percent,
        "rectified_at": _iso(state.rectified_at),
        "closed_at": _iso(state.closed_at),
        "next_steps": list(next_steps) if next_steps is not None else None,
    }


def task_facts(
    state: HazardState,
    unit: UnitInfo | None,
    rules: Rules,
    at: datetime,
    next_steps: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Template variables describing a supervised task at `at` (JSON values only);
    `subject_kind` "task" lets the templates word it as a task."""
    days = _days_past(state, rules, at)
    return {
        "subject_kind": "task",
        "task_id": state.hazard_id,
        "title": state.title,
        "description": state.description,
        "owner_kind": state.owner_kind,
        "owner_id": state.owner_id,
        "owner": owner_name(state, unit, rules),
        "deadline": _iso(state.deadline),
        "days_left": -days if days is not None and days <= 0 else None,
        "days_overdue": days if days is not None and days > 0 else None,
        "assigned_by": state.assigned_by,
        "reference": state.reference,
        "authority": state.listed_by,
        "status": state.status,
        "percent": state.percent,
        "completed_at": _iso(state.closed_at),
        "next_steps": list(next_steps) if next_steps is not None else None,
    }


def owner_name(state: HazardState, unit: UnitInfo | None, rules: Rules) -> str:
    """A task owner's name: the department's, the unit's or the person's; else its id."""
    owner = state.owner_id or ""
    name: str | None = None
    if state.owner_kind == "department":
        department = rules.index.departments.get(owner)
        name = department.name if department else None
    elif state.owner_kind == "unit":
        name = unit.name if unit and unit.unit_id == owner else None
    elif state.owner_kind == "person":
        person = person_of(owner, None, rules.index)
        name = person.name if person else None
    return name or owner


def _days_past(state: HazardState, rules: Rules, at: datetime) -> int | None:
    """Calendar days from the deadline to `at` (negative before it), in local dates."""
    if state.deadline is None:
        return None
    zone = rules.timing.zone
    return (at.astimezone(zone).date() - state.deadline.astimezone(zone).date()).days


def change_facts(state: HazardState) -> dict[str, Any]:
    """What changed: the deadline before the last change, the reason of a reopening,
    what a major hazard still lacks (五落实)."""
    missing = [name for name, value in (("deadline", state.deadline),) if value is None]
    if not state.responsible:
        missing.append("responsible")
    return {
        "old_deadline": _iso(state.previous_deadline),
        "reason": state.reopen_reason,
        "missing": missing,
    }


def responsible_names(state: HazardState, unit: UnitInfo | None, rules: Rules) -> list[str]:
    """Names of the hazard's responsible persons that the directory or the unit knows."""
    if not state.responsible:
        return []
    found = resolve(["responsible"], subject_of(state), unit, rules.index).recipients
    named = {r.person.id: r.person.name for r in found if r.role == "responsible"}
    return [named[pid] or pid for pid in state.responsible if pid in named]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
