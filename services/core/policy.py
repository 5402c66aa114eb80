"""Timing rules as ops write them in policies.yaml: which notice, to whom, when."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from contracts.notice import EscalationAction
from contracts.notice import NoticeKind as NoticeKind
from services.core.offsets import Offset, parse_offset

# The contract owns the vocabulary of notices; policies speak the same words.
Action = EscalationAction
Anchor = Literal[
    "reported", "deadline", "rectified", "listed", "closed", "reopened", "deadline_changed"
]
Role = Literal[
    "responsible",
    "principal",
    "controller",
    "safety_officer",
    "five_package",
    "department",
    "department_head",
    "committee_office",
    "leader",
    "authority",
    "notified",
    "owner",
]
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


def _to_offset(value: object) -> Offset:
    if isinstance(value, Offset):
        return value
    if isinstance(value, str | int):
        return parse_offset(value)
    raise ValueError("write the offset as text, e.g. '7 days before'")


OffsetField = Annotated[Offset, BeforeValidator(_to_offset)]


class Strict(BaseModel):
    """Base for config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


# Match fields that only hazards have (a task has no level, unit, finding or 五落实).
HAZARD_ONLY_MATCH = ("level", "industries", "regions", "found_by", "incomplete")


class Match(Strict):
    """Which hazards (or tasks) a rule applies to; an omitted field matches everything."""

    subject: Literal["hazard", "task"] = Field(
        "hazard",
        description="hazard (the default): the rule supervises hazards; task: supervised "
        "dated tasks (督办事项), which only `listed` further selects.",
    )
    level: Literal["major", "general"] | None = Field(
        None, description="Only hazards of this level."
    )
    industries: tuple[str, ...] | None = Field(
        None, description="Only hazards of units in these industry codes."
    )
    regions: tuple[str, ...] | None = Field(None, description="Only hazards in these regions.")
    listed: bool | None = Field(
        None, description="true: only hazards under listed supervision; false: only others."
    )
    found_by: tuple[str, ...] | None = Field(
        None, description="Only hazards found this way (self_check, inspection, public_report)."
    )
    incomplete: bool | None = Field(
        None,
        description="true: only hazards still lacking a deadline or a responsible person "
        "(五落实 incomplete); false: only complete ones.",
    )

    @model_validator(mode="after")
    def _task_fields(self) -> Match:
        if self.subject == "task":
            wrong = [name for name in HAZARD_ONLY_MATCH if getattr(self, name) is not None]
            if wrong:
                raise ValueError(f"{', '.join(wrong)}: only hazards have these (subject: task)")
        return self


class Repeat(Strict):
    """Repeats of a notice to recipients who have not acknowledged it."""

    every: OffsetField = Field(description="Time between repeats, e.g. '1 day after'.")
    times: int = Field(ge=1, le=30, description="At most this many repeats after the first.")

    @model_validator(mode="after")
    def _positive(self) -> Repeat:
        if self.every.amount <= 0:
            raise ValueError("repeat.every must be a positive offset such as '1 day after'")
        return self


class Step(Strict):
    """One notice of a rule, due at the anchor moved by `offset`."""

    name: str = Field(pattern=ID_PATTERN, description="Short id of the step, unique in its rule.")
    offset: OffsetField = Field(description="When, relative to the rule's anchor.")
    to: tuple[Role, ...] = Field(min_length=1, description="Roles along the chain to notify.")
    action: Action | None = Field(
        None,
        description="For escalations: letter 函告, circular 通报, interview 约谈, exposure 曝光.",
    )
    repeat: Repeat | None = Field(None, description="Overrides the rule's repeat for this step.")
    every: OffsetField | None = Field(
        None, description="Send again at this interval while the rule's condition holds."
    )


class Rule(Strict):
    """A group of steps that share a notice kind, an anchor and the hazards they apply to."""

    id: str = Field(pattern=ID_PATTERN, description="Unique rule id; part of every notice id.")
    kind: NoticeKind = Field(description="The notice kind these steps send.")
    anchor: Anchor = Field(description="The moment offsets count from.")
    match: Match = Field(default_factory=Match, description="Which hazards the rule covers.")
    steps: tuple[Step, ...] = Field(min_length=1, description="The notices, in order.")
    repeat: Repeat | None = Field(None, description="Repeats for every step of the rule.")
    add_authority_when_listed: bool = Field(
        True,
        description="Escalation and closure: add the listing authority while the hazard is listed.",
    )
    working_hours: bool = Field(
        True,
        description="false: send at the step's own moment, even at night or on a rest day "
        "(e.g. the immediate report of a major hazard).",
    )

    @model_validator(mode="after")
    def _step_names_unique(self) -> Rule:
        names = [step.name for step in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names repeat in rule '{self.id}': {', '.join(duplicates)}")
        if self.kind == "escalation" and any(step.action is None for step in self.steps):
            raise ValueError(f"every step of escalation rule '{self.id}' needs an action")
        return self


class QuietExemption(Strict):
    """Notices that go out even in quiet hours; an omitted field matches everything."""

    kind: NoticeKind | None = Field(None, description="Notice kind, e.g. report.")
    level: Literal["major", "general"] | None = Field(None, description="Hazard level.")


class QuietHours(Strict):
    """A local-time window in which a channel type holds its messages back."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Start, local HH:MM.")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="End, local HH:MM.")
    exempt: tuple[QuietExemption, ...] = Field(
        (), description="Notices sent at once even inside the window."
    )


class WorkingHours(Strict):
    """The office's hours: notices go out on working days, at `send_at` or within the hours."""

    send_at: str = Field(
        "09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time a moved notice goes out on the next working day.",
    )
    end: str = Field(
        "17:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="End of office hours; a later moment moves to the next working morning.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.send_at:
            raise ValueError("working_hours.end must be later than working_hours.send_at")
        return self


class Policy(Strict):
    """The whole of policies.yaml."""

    time_zone: str = Field("Asia/Shanghai", description="Zone of local times and date deadlines.")
    day_steps_at: str | None = Field(
        "09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Steps counted in days go out at this local time of their day; "
        "null keeps the anchor's time of day.",
    )
    working_hours: WorkingHours | None = Field(
        default_factory=WorkingHours,
        description="Notices go out on working days within these hours; null: at any time.",
    )
    rules: tuple[Rule, ...] = Field(description="The timing rules.")
    quiet_hours: dict[str, QuietHours] = Field(
        default_factory=dict, description="Per channel type (sms, email, chat): quiet window."
    )

    @model_validator(mode="after")
    def _rule_ids_unique(self) -> Policy:
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids repeat: {', '.join(duplicates)}")
        return self
