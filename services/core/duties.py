"""Statutory duties (duties.yaml): recurring obligations of units and departments.

A duty is owed once per period (a quarter, say; a month in high-risk industries).
Reminders go out before the period ends while it is unfulfilled; when it ends
unfulfilled, a `letter` (函告) goes up the chain. `duty.fulfilled` satisfies the period
containing its `fulfilled_at`.

Which period a unit or department owes first, when it is first seen mid-period (at
go-live every unit is registered on one day), is the duty's `owe_first_period`: by
default the current period when its first reminder is still ahead, so nobody is written
up for a period they were never reminded of. Department-owed duties bind only the
departments listed for them.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.core.offsets import Offset
from services.core.periods import PeriodKind
from services.core.policy import ID_PATTERN, OffsetField, Role, Strict

#: Which period a subject first seen mid-period owes first.
OweFirst = Literal["when_reminder_ahead", "next_full_period", "always"]


class Duty(Strict):
    """One recurring duty."""

    id: str = Field(pattern=ID_PATTERN, description="Duty code, as in duty.fulfilled.")
    owed_by: Literal["unit", "department"] = Field(description="Who owes it.")
    period: PeriodKind = Field(description="week, month, quarter, half_year or year.")
    period_high_risk: PeriodKind | None = Field(
        None, description="The period for units in high-risk industries, if different."
    )
    departments: tuple[str, ...] | None = Field(
        None,
        description="Department-owed duties (required): the departments that owe it, "
        "those whose fulfilment a publishing system confirms.",
    )
    industries: tuple[str, ...] | None = Field(
        None, description="Unit-owed duties: only units in these industries (default: all)."
    )
    reminders: tuple[OffsetField, ...] = Field(
        (), description="Reminders before the period ends, e.g. '7 days before'."
    )
    remind_to: tuple[Role, ...] = Field(min_length=1, description="Who is reminded.")
    letter_at: OffsetField = Field(
        Offset(0, "day"), description="When the letter goes, relative to the period's end."
    )
    letter_to: tuple[Role, ...] = Field(min_length=1, description="Who gets the letter.")
    owe_first_period: OweFirst = Field(
        "when_reminder_ahead",
        description="A unit or department first seen mid-period owes that period when its "
        "first reminder is still ahead (when_reminder_ahead), never (next_full_period), or "
        "always (always).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Duty:
        # Each problem starts with "@<key>: " so the loader points at the key's line.
        problems = []
        if any(r.amount >= 0 for r in self.reminders):
            problems.append(
                "@reminders: 提醒须写在本期结束之前，例如 '7 days before'"
                f"（duty '{self.id}': reminders must be 'N days before' the end）"
            )
        if self.owed_by == "department" and not self.departments:
            problems.append(
                "@departments: 部门职责须用 departments 列出负有该职责的部门编号"
                "（只列其完成情况有系统报送 duty.fulfilled 的部门）"
                f"（duty '{self.id}' is owed by departments: list them）"
            )
        if self.owed_by == "unit" and self.departments is not None:
            problems.append(
                "@departments: 单位职责不按部门列出，请删去 departments，可用 industries 限定行业"
                f"（duty '{self.id}' is owed by units: departments does not apply）"
            )
        if self.owed_by == "department" and self.industries is not None:
            problems.append(
                "@industries: 部门职责不按行业限定，请删去 industries"
                f"（duty '{self.id}' is owed by departments: industries does not apply）"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def period_for(self, high_risk: bool) -> PeriodKind:
        """The period length that applies."""
        return (self.period_high_risk or self.period) if high_risk else self.period


class Digest(Strict):
    """A statistics digest to the committee office (周上报、月调度)."""

    id: str = Field(pattern=ID_PATTERN, description="Digest id, e.g. weekly.")
    every: Literal["week", "month"] = Field(description="week: Mondays; month: the 1st.")
    at: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time.")
    to: tuple[Role, ...] = Field(("committee_office",), description="Who receives it.")
    per_department: bool = Field(
        False, description="Also send each department the digest of its own industries."
    )
    longest_overdue: int = Field(10, ge=0, le=100, description="Rows in the overdue list.")

    def at_time(self) -> time:
        """The local send time."""
        hours, minutes = self.at.split(":")
        return time(int(hours), int(minutes))


class DutiesFile(Strict):
    """The whole of duties.yaml."""

    duties: tuple[Duty, ...] = Field((), description="Recurring duties.")
    digests: tuple[Digest, ...] = Field((), description="Statistics digests.")

    @model_validator(mode="after")
    def _ids_unique(self) -> DutiesFile:
        for label, ids in (
            ("duty", [d.id for d in self.duties]),
            ("digest", [d.id for d in self.digests]),
        ):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{label} ids repeat: {', '.join(repeated)}")
        return self


class DutyState(BaseModel):
    """What duban remembers of one duty of one unit or department."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    subject_id: str
    duty: str
    owed_since: datetime | None = Field(
        None, description="When the unit or department was first seen."
    )
    owed_from: datetime | None = Field(
        None,
        description="Start of the first period owed, decided when first seen (see "
        "owe_first_period); None in documents from before: the period after owed_since.",
    )
    fulfilled: list[str] = Field(default_factory=list, description="Period keys fulfilled.")
    missed: list[tuple[str, datetime]] = Field(
        default_factory=list, description="(period key, period end) that ended unfulfilled."
    )
    sent: list[str] = Field(default_factory=list, description="Occurrences already decided.")
    recent_events: list[str] = Field(default_factory=list)
    version: int = 0
