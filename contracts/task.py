"""Data models of the `task.*` events (contract v1): supervised dated tasks (督办事项), e.g. a
plan to submit by a date or work handed to a department with a deadline (交办事项).

The envelope subject is the task id. duban supervises a task like a hazard: reminders
before its deadline, 函告 → 通报 → 约谈 after it, to the owner's chain.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from contracts.common import (
    Authority,
    DataModel,
    Deadline,
    FreeText,
    Id,
    Reason,
    Text,
    Timestamp,
)

TASK_ASSIGNED = "task.assigned"
TASK_UPDATED = "task.updated"
TASK_PROGRESS = "task.progress"
TASK_COMPLETED = "task.completed"
TASK_CANCELLED = "task.cancelled"

_TASK_ID = "Task id; must equal the envelope `subject`."
_DEADLINE = (
    "Deadline (完成时限): RFC 3339 date-time with offset (that instant), or a date YYYY-MM-DD "
    "meaning the end of that day in duban's configured time zone."
)

OwnerKind = Literal["department", "unit", "person"]
"""Who owns a task: a department (directory.yaml id), a unit (unit_id) or a person."""


class TaskData(DataModel):
    """Common base of the task event data models: they all carry `task_id`."""

    SUBJECT_FIELD: ClassVar[str] = "task_id"

    task_id: Id = Field(description=_TASK_ID)


class TaskOwner(DataModel):
    """Who must complete the task (承办单位 / 责任人)."""

    kind: OwnerKind = Field(
        description=(
            "department: a department of directory.yaml (its duty officers are notified); "
            "unit: a unit of `unit.upserted` (its principal); person: a person id "
            "(`person.upserted` or directory.yaml)."
        )
    )
    id: Id = Field(description="Department id, unit id or person id, as `kind` says.")


class TaskAssigned(TaskData):
    """`task.assigned`: a dated task was handed to an owner (交办 / 督办事项)."""

    EVENT_TYPE: ClassVar[str] = TASK_ASSIGNED

    title: Text = Field(
        description=(
            "Short one-line title (it goes into e-mail subjects and SMS), e.g. "
            "报送安全生产专项整治方案."
        )
    )
    description: FreeText | None = Field(
        default=None, description="Longer free-text description (line breaks allowed)."
    )
    owner: TaskOwner = Field(description="Who must complete the task.")
    deadline: Deadline = Field(description=_DEADLINE)
    assigned_by: Text = Field(
        description="Who assigned the task, e.g. 县安委会办公室 (a name or an id)."
    )
    reference: Text | None = Field(
        default=None,
        description="The source document, e.g. 青安委〔2026〕3号 第三条.",
    )
    listed: Authority | None = Field(
        default=None,
        description=(
            "Level of the authority supervising the task (挂牌督办), as "
            "hazard.supervision_listed's `authority`: town, county, city or province."
        ),
    )


#: The fields a `task.updated` may change; at least one must be present.
TASK_UPDATABLE_FIELDS: tuple[str, ...] = ("title", "deadline", "owner")


def _at_least_one_update(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in TASK_UPDATABLE_FIELDS
    ]


class TaskUpdated(TaskData):
    """`task.updated`: some attributes changed; absent or null fields stay unchanged."""

    model_config = ConfigDict(json_schema_extra=_at_least_one_update)

    EVENT_TYPE: ClassVar[str] = TASK_UPDATED

    title: Text | None = Field(default=None, description="New one-line title.")
    deadline: Deadline | None = Field(default=None, description="New deadline. " + _DEADLINE)
    owner: TaskOwner | None = Field(default=None, description="New owner (replaces the old).")
    reason: FreeText | None = Field(default=None, description="Why it changed (free text).")

    @model_validator(mode="after")
    def _check_something_changes(self) -> Self:
        if all(getattr(self, name) is None for name in TASK_UPDATABLE_FIELDS):
            raise ValueError("at least one of " + ", ".join(TASK_UPDATABLE_FIELDS) + " is required")
        return self


class TaskProgress(TaskData):
    """`task.progress`: progress report on the task (进展情况)."""

    EVENT_TYPE: ClassVar[str] = TASK_PROGRESS

    percent: Annotated[int, Field(ge=0, le=100)] = Field(
        description="Progress in percent, an integer 0-100."
    )
    note: FreeText | None = Field(default=None, description="Progress note (free text).")


class TaskCompleted(TaskData):
    """`task.completed`: the task was completed (办结); supervision ends."""

    EVENT_TYPE: ClassVar[str] = TASK_COMPLETED

    completed_at: Timestamp = Field(description="When the task was completed.")
    completed_by: Id | None = Field(
        default=None, description="Person or department id that reported completion."
    )


class TaskCancelled(TaskData):
    """`task.cancelled`: the task was withdrawn (撤销); supervision ends, nothing more is sent."""

    EVENT_TYPE: ClassVar[str] = TASK_CANCELLED

    reason: Reason = Field(description="Why the task was cancelled (free text, not blank).")


TASK_MODELS: tuple[type[TaskData], ...] = (
    TaskAssigned,
    TaskUpdated,
    TaskProgress,
    TaskCompleted,
    TaskCancelled,
)
