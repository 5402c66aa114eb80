"""Folding hazard and task events into state: duplicates change nothing, stale events never
regress it, events before the hazard's report (the task's assignment) wait for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.core.state import (
    OPEN_STATUSES,
    PARKED_EVENTS_KEPT,
    RECENT_EVENTS_KEPT,
    HazardState,
    ParkedEvent,
    UnitRef,
)

Outcome = Literal["applied", "duplicate", "stale", "parked", "ignored"]


@dataclass(frozen=True)
class Fact:
    """One validated inbound hazard or task event, reduced to what the core needs."""

    type: str
    time: datetime
    key: str  # source + id: the idempotency key
    data: dict[str, Any]


@dataclass(frozen=True)
class Applied:
    """The result of applying one fact: the new state and why it changed (or not)."""

    state: HazardState
    outcome: Outcome
    reason: str = ""


def as_deadline(value: datetime | date | str | None, zone: ZoneInfo) -> datetime | None:
    """A contract deadline as a moment: a bare date means the end of that day in `zone`."""
    if value is None:
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(23, 59, 59), tzinfo=zone)


def apply(state: HazardState | None, fact: Fact, zone: ZoneInfo) -> Applied:
    """Apply `fact` to `state` (None: hazard or task never seen); pure, returns a new state."""
    current = state or new_state(fact)
    if fact.key in current.recent_events:
        return Applied(current, "duplicate", f"event {fact.key} already applied")
    if not current.known and fact.type not in _CREATING:
        return _park(current, fact)
    if fact.type in _LIFECYCLE and _older(current, "status", fact):
        when = current.field_times["status"].isoformat()
        return Applied(current, "stale", f"{fact.type} is older than the status set at {when}")
    handler = _HANDLERS.get(fact.type)
    if handler is None:
        return Applied(current, "ignored", f"{fact.type} does not change hazard state")
    # Handlers replace lists and only mutate field_times in place: copy just that (a deep
    # copy of the whole state was half the engine's CPU time).
    working = current.model_copy(update={"field_times": dict(current.field_times)})
    updated, outcome, reason = handler(working, fact, zone)
    if outcome != "applied":
        return Applied(current, outcome, reason)
    _remember(updated, fact)
    if fact.type in _CREATING and updated.parked:
        return _replay_parked(updated, zone)
    return Applied(updated, "applied", reason)


def new_state(fact: Fact) -> HazardState:
    """The empty state of the hazard or task a fact is about (not known until reported)."""
    if fact.type.startswith("task."):
        return HazardState(hazard_id=str(fact.data["task_id"]), kind="task", known=False)
    return HazardState(hazard_id=str(fact.data["hazard_id"]), known=False)


def _older(state: HazardState, field: str, fact: Fact) -> bool:
    """True when `field` was last set by an event newer than `fact`."""
    last = state.field_times.get(field)
    return last is not None and fact.time < last


def _remember(state: HazardState, fact: Fact) -> None:
    if fact.type in _LIFECYCLE:
        state.field_times["status"] = fact.time
    state.recent_events = [*state.recent_events, fact.key][-RECENT_EVENTS_KEPT:]
    if state.as_of is None or fact.time > state.as_of:
        state.as_of = fact.time


def _park(state: HazardState, fact: Fact) -> Applied:
    if any(p.key == fact.key for p in state.parked):
        return Applied(state, "duplicate", f"event {fact.key} already parked")
    parked = ParkedEvent(type=fact.type, time=fact.time, key=fact.key, data=fact.data)
    kept = sorted([*state.parked, parked], key=lambda p: p.time)[-PARKED_EVENTS_KEPT:]
    updated = state.model_copy(update={"parked": kept})
    first = "task.assigned" if state.kind == "task" else "hazard.reported"
    return Applied(updated, "parked", f"{fact.type} waits for {first}")


def _replay_parked(state: HazardState, zone: ZoneInfo) -> Applied:
    parked, state = state.parked, state.model_copy(update={"parked": []})
    for item in parked:
        fact = Fact(item.type, item.time, item.key, dict(item.data))
        state = apply(state, fact, zone).state
    return Applied(state, "applied", f"reported; {len(parked)} earlier event(s) applied")


Handler = Callable[[HazardState, Fact, ZoneInfo], tuple[HazardState, Outcome, str]]


def _reported(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.known:
        return state, "ignored", "hazard already reported; use hazard.updated to change it"
    d = fact.data
    unit = d["unit"]
    state.known = True
    state.title = d["title"]
    state.description = d.get("description")
    state.level = d["level"]
    state.found_by = d["found_by"]
    state.unit = UnitRef(
        id=unit["id"], name=unit.get("name"), industry=unit["industry"], region=unit["region"]
    )
    state.found_at = _moment(d["found_at"])
    state.reported_at = fact.time
    state.deadline = as_deadline(d.get("deadline"), zone)
    state.deadline_set_at = fact.time
    state.responsible = tuple(d.get("responsible") or ())
    state.supervising_department = d.get("supervising_department")
    return state, "applied", "reported"


def _updated(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    fields = [f for f in _UPDATABLE if fact.data.get(f) is not None and not _older(state, f, fact)]
    if not fields:
        return state, "stale", "every field in this update was set by a newer event"
    for name in fields:
        state.field_times[name] = fact.time
        value = fact.data[name]
        if name == "deadline":
            _set_deadline(state, value, fact.time, zone)
        else:
            setattr(state, name, tuple(value) if name == "responsible" else value)
    return state, "applied", "updated " + ", ".join(fields)


def _progress(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status not in OPEN_STATUSES:
        return state, "ignored", f"progress on a {state.status} {state.kind} changes nothing"
    state.percent = int(fact.data["percent"])
    state.status = "rectifying"
    return state, "applied", "progress"


def _rectified(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status not in OPEN_STATUSES:
        return state, "ignored", f"a {state.status} hazard cannot be rectified"
    state.status = "rectified"
    state.rectified_at = _moment(fact.data["rectified_at"])
    return state, "applied", "rectified"


def _closed(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status in {"closed", "cancelled"}:
        return state, "ignored", f"hazard already {state.status}"
    state.status = "closed"
    state.closed_at = _moment(fact.data["closed_at"])
    return state, "applied", "closed"


def _reopened(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status not in {"rectified", "closed"}:
        return state, "ignored", f"a {state.status} hazard cannot be reopened"
    state.status = "rectifying"
    state.rectified_at = None
    state.closed_at = None
    state.reopened_at = fact.time
    state.reopen_reason = fact.data.get("reason")
    if fact.data.get("deadline") is not None:
        _set_deadline(state, fact.data["deadline"], fact.time, zone)
    return state, "applied", "reopened"


def _cancelled(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status in {"closed", "cancelled"}:
        return state, "ignored", f"{state.kind} already {state.status}"
    state.status = "cancelled"
    return state, "applied", "cancelled"


def _listed(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status in {"closed", "cancelled"}:
        return state, "ignored", f"a {state.status} hazard cannot be listed"
    if _older(state, "listed", fact):
        return state, "stale", "a newer listing is already applied"
    state.field_times["listed"] = fact.time
    state.listed_by = fact.data["authority"]
    state.listed_at = state.listed_at or fact.time
    if fact.data.get("deadline") is not None:
        _set_deadline(state, fact.data["deadline"], fact.time, zone)
    return state, "applied", "listed"


def _set_deadline(state: HazardState, value: Any, at: datetime, zone: ZoneInfo) -> None:
    state.field_times["deadline"] = max(at, state.field_times.get("deadline", at))
    new = as_deadline(value, zone)
    if new != state.deadline:
        if state.deadline is not None:
            state.previous_deadline = state.deadline
            state.deadline_changed_at = at
        state.deadline = new
        state.deadline_set_at = at


def _assigned(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.known:
        return state, "ignored", "task already assigned; use task.updated to change it"
    d = fact.data
    state.known = True
    state.kind = "task"
    state.title = d["title"]
    state.description = d.get("description")
    _set_owner(state, d["owner"])
    state.assigned_by = d["assigned_by"]
    state.reference = d.get("reference")
    state.reported_at = fact.time
    state.deadline = as_deadline(d["deadline"], zone)
    state.deadline_set_at = fact.time
    if d.get("listed") is not None:
        state.listed_by = d["listed"]
        state.listed_at = fact.time
    return state, "applied", "assigned"


def _task_updated(
    state: HazardState, fact: Fact, zone: ZoneInfo
) -> tuple[HazardState, Outcome, str]:
    names = ("title", "deadline", "owner")
    fields = [f for f in names if fact.data.get(f) is not None and not _older(state, f, fact)]
    if not fields:
        return state, "stale", "every field in this update was set by a newer event"
    for name in fields:
        state.field_times[name] = fact.time
        value = fact.data[name]
        if name == "deadline":
            _set_deadline(state, value, fact.time, zone)
        elif name == "owner":
            _set_owner(state, value)
        else:
            state.title = value
    return state, "applied", "updated " + ", ".join(fields)


def _completed(state: HazardState, fact: Fact, zone: ZoneInfo) -> tuple[HazardState, Outcome, str]:
    if state.status in {"closed", "cancelled"}:
        done = "completed" if state.status == "closed" else state.status
        return state, "ignored", f"task already {done}"
    state.status = "closed"
    state.closed_at = _moment(fact.data["completed_at"])
    return state, "applied", "completed"


def _set_owner(state: HazardState, owner: dict[str, Any]) -> None:
    state.owner_kind = owner["kind"]
    state.owner_id = str(owner["id"])


def _moment(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


_UPDATABLE = ("title", "level", "deadline", "responsible", "supervising_department")
_LIFECYCLE = frozenset(
    {
        "hazard.progress",
        "hazard.rectified",
        "hazard.closed",
        "hazard.reopened",
        "hazard.cancelled",
        "task.progress",
        "task.completed",
        "task.cancelled",
    }
)
# The events that make a hazard or task known; others before them are parked.
_CREATING = frozenset({"hazard.reported", "task.assigned"})

_HANDLERS: dict[str, Handler] = {
    "hazard.reported": _reported,
    "hazard.updated": _updated,
    "hazard.progress": _progress,
    "hazard.rectified": _rectified,
    "hazard.closed": _closed,
    "hazard.reopened": _reopened,
    "hazard.cancelled": _cancelled,
    "hazard.supervision_listed": _listed,
    "task.assigned": _assigned,
    "task.updated": _task_updated,
    "task.progress": _progress,
    "task.completed": _completed,
    "task.cancelled": _cancelled,
}
