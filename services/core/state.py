"""What duban remembers of a hazard, a supervised task and a unit: plain data, persisted as JSON.

A task (督办事项) is kept in the hazard's shape (`kind` "task") so that one timeline runs
both ladders: assigned → "reported", progress → "rectifying", completed → "closed"."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.directory import Person

SubjectKind = Literal["hazard", "task"]
Status = Literal["reported", "rectifying", "rectified", "closed", "cancelled"]
OPEN_STATUSES: frozenset[str] = frozenset({"reported", "rectifying"})
RECENT_EVENTS_KEPT = 64
PARKED_EVENTS_KEPT = 32


class UnitRef(BaseModel):
    """The unit a hazard belongs to, as the hazard's report described it."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str
    name: str | None = None
    industry: str
    region: str


class ParkedEvent(BaseModel):
    """An event that arrived before its hazard was reported; applied once it is."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: str
    time: datetime
    key: str
    data: dict[str, object]


class HazardState(BaseModel):
    """A hazard (or a task, `kind` "task") as duban knows it, plus what has been sent and
    acknowledged."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    hazard_id: str = Field(description="The hazard id; a task's id for a task.")
    kind: SubjectKind = "hazard"
    known: bool = Field(True, description="False while only early events are parked.")
    title: str = ""
    description: str | None = None
    level: Literal["major", "general"] = "general"
    found_by: str = "other"
    unit: UnitRef | None = None
    found_at: datetime | None = None
    reported_at: datetime | None = None
    deadline: datetime | None = None
    deadline_set_at: datetime | None = None
    previous_deadline: datetime | None = Field(
        None, description="The deadline before the last change, for deadline_changed notices."
    )
    deadline_changed_at: datetime | None = Field(
        None, description="When a deadline was last replaced by another (not first set)."
    )
    reopened_at: datetime | None = None
    reopen_reason: str | None = None
    responsible: tuple[str, ...] = ()
    supervising_department: str | None = None
    status: Status = "reported"
    percent: int | None = None
    rectified_at: datetime | None = None
    closed_at: datetime | None = None
    listed_by: Literal["town", "county", "city", "province"] | None = None
    listed_at: datetime | None = None
    # A task's own fields (task.assigned); None for hazards.
    owner_kind: Literal["department", "unit", "person"] | None = None
    owner_id: str | None = None
    assigned_by: str | None = None
    reference: str | None = None
    as_of: datetime | None = Field(None, description="Time of the newest event applied.")
    field_times: dict[str, datetime] = Field(
        default_factory=dict, description="Event time that last set each field (and status)."
    )
    recent_events: list[str] = Field(default_factory=list, description="source+id, newest last.")
    parked: list[ParkedEvent] = Field(default_factory=list)
    sent: list[str] = Field(default_factory=list, description="Step occurrences already sent.")
    notified_roles: list[str] = Field(
        default_factory=list, description="Roles notified about this hazard so far."
    )
    acks: dict[str, list[str]] = Field(
        default_factory=dict, description="notice_id → person ids who acknowledged."
    )
    version: int = Field(0, description="Optimistic-concurrency counter of the stored copy.")


class UnitInfo(BaseModel):
    """A unit's registry data and contacts from unit.upserted."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    unit_id: str
    name: str | None = None
    industry: str | None = None
    region: str | None = None
    high_risk: bool | None = None
    principal: Person | None = None
    controller: Person | None = None
    safety_officer: Person | None = None
    five_package: tuple[Person, ...] = ()
    as_of: datetime | None = None
