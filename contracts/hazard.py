"""Data models of the `hazard.*` events (contract v1); the envelope subject is the hazard id."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import ConfigDict, Field, model_validator

from contracts.common import (
    Authority,
    DataModel,
    Deadline,
    FoundBy,
    FreeText,
    Id,
    Level,
    Reason,
    Text,
    Timestamp,
)

HAZARD_REPORTED = "hazard.reported"
HAZARD_UPDATED = "hazard.updated"
HAZARD_PROGRESS = "hazard.progress"
HAZARD_RECTIFIED = "hazard.rectified"
HAZARD_CLOSED = "hazard.closed"
HAZARD_REOPENED = "hazard.reopened"
HAZARD_CANCELLED = "hazard.cancelled"
HAZARD_SUPERVISION_LISTED = "hazard.supervision_listed"

_HAZARD_ID = "Hazard id; must equal the envelope `subject`."
_DEADLINE = (
    "Rectification deadline (时限): RFC 3339 date-time with offset (that instant), or a date "
    "YYYY-MM-DD meaning the end of that day in duban's configured time zone."
)
_RESPONSIBLE = "Person ids of the persons responsible for the rectification (directory ids)."
_DEPARTMENT = (
    "Id of the supervising department (行业主管部门); if absent duban derives it from the "
    "unit's industry."
)

Responsible = tuple[Id, ...]


class HazardData(DataModel):
    """Common base of the hazard event data models: they all carry `hazard_id`."""

    SUBJECT_FIELD: ClassVar[str] = "hazard_id"

    hazard_id: Id = Field(description=_HAZARD_ID)


class HazardUnit(DataModel):
    """The unit (生产经营单位) a hazard belongs to, as known to the reporting system."""

    id: Id = Field(description="Unit id (same id space as `unit.upserted` unit_id).")
    name: Text | None = Field(default=None, description="Unit name, e.g. 白土镇某化工有限公司.")
    industry: Id = Field(
        description=(
            "Industry code, e.g. 'hazardous_chemicals', 'fire_safety'; selects the supervising "
            "department. An unknown code is accepted (the committee office supervises)."
        )
    )
    region: Id = Field(description="Region code (town/village), e.g. 'baitu'.")


class HazardReported(HazardData):
    """`hazard.reported`: a new hazard was found and registered (隐患上报)."""

    EVENT_TYPE: ClassVar[str] = HAZARD_REPORTED

    title: Text = Field(
        description=(
            "Short one-line title of the hazard (it goes into e-mail subjects and SMS), e.g. "
            "储罐区可燃气体报警器失效."
        )
    )
    description: FreeText | None = Field(
        default=None, description="Longer free-text description (line breaks allowed)."
    )
    level: Level = Field(description="Hazard level: major (重大事故隐患) or general (一般隐患).")
    found_by: FoundBy = Field(
        description="How the hazard was found: self_check, inspection, public_report or other."
    )
    unit: HazardUnit = Field(description="The unit the hazard belongs to.")
    found_at: Timestamp = Field(description="When the hazard was found (RFC 3339 with offset).")
    deadline: Deadline | None = Field(default=None, description=_DEADLINE)
    responsible: Responsible = Field(default=(), description=_RESPONSIBLE)
    supervising_department: Id | None = Field(default=None, description=_DEPARTMENT)


#: The fields a `hazard.updated` may change; at least one must be present.
UPDATABLE_FIELDS: tuple[str, ...] = (
    "title",
    "level",
    "deadline",
    "responsible",
    "supervising_department",
)


def _at_least_one_update(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in UPDATABLE_FIELDS
    ]


class HazardUpdated(HazardData):
    """`hazard.updated`: some attributes changed; absent or null fields stay unchanged."""

    model_config = ConfigDict(json_schema_extra=_at_least_one_update)

    EVENT_TYPE: ClassVar[str] = HAZARD_UPDATED

    title: Text | None = Field(default=None, description="New one-line title.")
    level: Level | None = Field(default=None, description="New level: 'major' or 'general'.")
    deadline: Deadline | None = Field(default=None, description="New deadline. " + _DEADLINE)
    responsible: Responsible | None = Field(
        default=None, description="New full list of responsible person ids (replaces the old)."
    )
    supervising_department: Id | None = Field(
        default=None, description="New supervising department id."
    )
    reason: FreeText | None = Field(default=None, description="Why it changed (free text).")

    @model_validator(mode="after")
    def _check_something_changes(self) -> Self:
        if all(getattr(self, name) is None for name in UPDATABLE_FIELDS):
            raise ValueError("at least one of " + ", ".join(UPDATABLE_FIELDS) + " is required")
        return self

    def changes(self) -> dict[str, Any]:
        """Return the fields this update sets, by name."""
        return {n: getattr(self, n) for n in UPDATABLE_FIELDS if getattr(self, n) is not None}


class HazardProgress(HazardData):
    """`hazard.progress`: rectification progress report (整改进度)."""

    EVENT_TYPE: ClassVar[str] = HAZARD_PROGRESS

    percent: Annotated[int, Field(ge=0, le=100)] = Field(
        description="Rectification progress in percent, an integer 0-100."
    )
    note: FreeText | None = Field(default=None, description="Progress note (free text).")


class HazardRectified(HazardData):
    """`hazard.rectified`: the unit reports rectification done; awaiting acceptance (验收)."""

    EVENT_TYPE: ClassVar[str] = HAZARD_RECTIFIED

    rectified_at: Timestamp = Field(description="When rectification was completed.")
    note: FreeText | None = Field(
        default=None, description="Note on the rectification (free text)."
    )


class HazardClosed(HazardData):
    """`hazard.closed`: the department accepted the rectification; hazard closed out (销号)."""

    EVENT_TYPE: ClassVar[str] = HAZARD_CLOSED

    closed_at: Timestamp = Field(description="When the hazard was closed out.")
    closed_by: Id | None = Field(
        default=None, description="Person or department id that signed the close-out."
    )


class HazardReopened(HazardData):
    """`hazard.reopened`: acceptance failed or rectification was false (虚假整改); rectify again."""

    EVENT_TYPE: ClassVar[str] = HAZARD_REOPENED

    reason: Reason = Field(description="Why the hazard was reopened (free text, not blank).")
    deadline: Deadline | None = Field(
        default=None, description="New deadline (else the old one stands). " + _DEADLINE
    )


class HazardCancelled(HazardData):
    """`hazard.cancelled`: the hazard was reported in error and is withdrawn."""

    EVENT_TYPE: ClassVar[str] = HAZARD_CANCELLED

    reason: Reason = Field(description="Why the hazard was cancelled (free text, not blank).")


class HazardSupervisionListed(HazardData):
    """`hazard.supervision_listed`: an authority put the hazard on its watch list (挂牌督办)."""

    EVENT_TYPE: ClassVar[str] = HAZARD_SUPERVISION_LISTED

    authority: Authority = Field(
        description="Level of the listing authority: town, county, city or province."
    )
    deadline: Deadline | None = Field(
        default=None, description="Deadline set by the listing authority. " + _DEADLINE
    )


HAZARD_MODELS: tuple[type[HazardData], ...] = (
    HazardReported,
    HazardUpdated,
    HazardProgress,
    HazardRectified,
    HazardClosed,
    HazardReopened,
    HazardCancelled,
    HazardSupervisionListed,
)
