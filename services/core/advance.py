"""One step of a hazard's (or a task's) life: fold in new events and acks, then decide what
is due now.

The engine service and `duban simulate` both call `advance`; it is the whole rules core
as seen from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.core.evaluate import PlannedNotice, Rules, acknowledge, evaluate, mark_decided
from services.core.reducer import Fact, Outcome, apply
from services.core.state import OPEN_STATUSES, HazardState, SubjectKind, UnitInfo


@dataclass(frozen=True)
class Ack:
    """A person acknowledged a notice."""

    notice_id: str
    person_id: str


@dataclass
class Advanced:
    """The new state, the notices to send now, when to look again, and what happened."""

    state: HazardState
    notices: list[PlannedNotice] = field(default_factory=list)
    next_at: datetime | None = None
    outcomes: list[tuple[str, Outcome, str]] = field(default_factory=list)  # key, outcome, why
    warnings: list[str] = field(default_factory=list)
    replanned: bool = True  # False: the timeline is as before, the pending timer stands


def subject_of_notice(notice_id: str) -> tuple[SubjectKind, str] | None:
    """("hazard" or "task", id) inside a hazard or task notice id
    ("hazard:<id>:<rule>:<step>:<stamp>", "task:<id>:..."); None for any other."""
    scope, _, rest = notice_id.partition(":")
    parts = rest.rsplit(":", 3)
    if len(parts) != 4 or not all(parts):
        return None
    if scope == "hazard":
        return "hazard", parts[0]
    if scope == "task":
        return "task", parts[0]
    return None


def hazard_of_notice(notice_id: str) -> str | None:
    """The hazard id inside a hazard notice id ("hazard:<id>:<rule>:<step>:<stamp>")."""
    found = subject_of_notice(notice_id)
    return found[1] if found and found[0] == "hazard" else None


def plan_key(state: HazardState) -> tuple[object, ...]:
    """Everything the timeline depends on; equal keys mean an unchanged timeline."""
    unit = state.unit
    phase = "open" if state.status in OPEN_STATUSES else state.status
    return (
        state.known,
        state.level,
        phase,
        state.deadline,
        state.deadline_set_at,
        state.rectified_at,
        state.closed_at,
        state.listed_by,
        state.listed_at,
        state.found_by,
        state.owner_kind,
        state.reopened_at,
        state.deadline_changed_at,
        bool(state.responsible),
        unit.industry if unit else None,
        unit.region if unit else None,
    )


def advance(
    state: HazardState | None,
    hazard_id: str,
    facts: Sequence[Fact],
    acks: Sequence[Ack],
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
    kind: SubjectKind = "hazard",
) -> Advanced:
    """Apply `facts` in order and `acks`, then evaluate at `now`; pure. `hazard_id` is a
    task's id when `kind` is "task"."""
    zone = rules.timing.zone
    current = state or HazardState(hazard_id=hazard_id, kind=kind, known=False)
    outcomes: list[tuple[str, Outcome, str]] = []
    for fact in facts:
        applied = apply(current, fact, zone)
        current = applied.state
        outcomes.append((fact.key, applied.outcome, applied.reason))
    for ack in acks:
        current = acknowledge(current, ack.notice_id, ack.person_id)
    if state is not None and (facts or acks) and plan_key(state) == plan_key(current):
        # Progress notes, titles, acks: nothing that moves a step. The pending timer
        # already stands at the next due step, so there is nothing to decide now.
        return Advanced(current, outcomes=outcomes, replanned=False)
    evaluation = evaluate(current, unit, rules, now)
    current = mark_decided(current, evaluation)
    return Advanced(current, evaluation.notices, evaluation.next_at, outcomes, evaluation.warnings)
