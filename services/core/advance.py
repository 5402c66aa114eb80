"""One step of a hazard's (or a task's) life: fold in new events and acks, then decide what
is due now.

The engine service and `duban simulate` both call `advance`; it is the whole rules core
as seen from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.core.catchup import CATCH_UP_AFTER
from services.core.evaluate import (
    Evaluation,
    PlannedNotice,
    Rules,
    acknowledge,
    evaluate,
    mark_decided,
)
from services.core.ontime import decided_on_time, no_gap, timer_late
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
    arrived: datetime | None = None,
) -> Advanced:
    """Apply `facts` in order and `acks`, then evaluate at `now`; pure. `hazard_id` is a
    task's id when `kind` is "task".

    `arrived` is when the facts and acks reached duban, or with neither, when the timer
    that fired was due (None: not known). Steps due before the first fact that moves the
    plan (or before acks arrived) that no timer has fired yet (it waited for other
    events, or ran late) are decided first, on the state before the facts, each at its
    own due time, as they would have been on time and as `duban simulate` decides them:
    a closure that came after a reminder was due does not cancel the reminder, and a
    timer that fired a minute late sends what a timer on time would have."""
    known = state or HazardState(hazard_id=hazard_id, kind=kind, known=False)
    current = _folded(known, facts, acks, rules)
    timer = not facts and not acks
    early = _due_before(state, current, timer, acks, unit, rules, now, arrived)
    if early is not None:
        current = _folded(mark_decided(known, early), facts, acks, rules)
    elif state is not None and (facts or acks) and plan_key(state) == plan_key(current.state):
        # Progress notes, titles, acks: nothing that moves a step. The pending timer
        # already stands at the next due step, so there is nothing to decide now.
        return Advanced(current.state, outcomes=current.outcomes, replanned=False)
    evaluation = evaluate(current.state, unit, rules, now)
    if early is not None:
        evaluation.notices[:0] = early.notices
        evaluation.warnings[:0] = early.warnings
    decided = mark_decided(current.state, evaluation)
    return Advanced(
        decided, evaluation.notices, evaluation.next_at, current.outcomes, evaluation.warnings
    )


@dataclass
class _Folded:
    state: HazardState
    outcomes: list[tuple[str, Outcome, str]]
    moved_at: datetime | None = None  # the time of the first fact that moved the plan


def _folded(
    state: HazardState, facts: Sequence[Fact], acks: Sequence[Ack], rules: Rules
) -> _Folded:
    """`state` with the facts applied in order, then the acks."""
    zone = rules.timing.zone
    folded = _Folded(state, [])
    plan = plan_key(state)
    for fact in facts:
        applied = apply(folded.state, fact, zone)
        folded.state = applied.state
        folded.outcomes.append((fact.key, applied.outcome, applied.reason))
        if folded.moved_at is None and plan != (plan := plan_key(applied.state)):
            folded.moved_at = fact.time
    for ack in acks:
        folded.state = acknowledge(folded.state, ack.notice_id, ack.person_id)
    return folded


def _due_before(
    state: HazardState | None,
    folded: _Folded,
    timer: bool,
    acks: Sequence[Ack],
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
    arrived: datetime | None,
) -> Evaluation | None:
    """What was due on `state` and not decided yet, decided as on time (services.core.
    ontime): for a timer that fired late (`arrived` is its due time), up to now; for
    events, what was due before the first fact that moves the plan (or before acks
    arrived), at that fact's time, never later than its arrival or now (a publisher's
    clock may run ahead). None when nothing was, or when it is a gap."""
    if arrived is None or state is None or not state.known:
        return None
    if timer:
        late = timer_late(arrived, now)
        return decided_on_time(state, unit, rules, arrived, now) if late else None
    moment = folded.moved_at if folded.moved_at is not None else arrived if acks else None
    if moment is None:
        return None  # the plan stands: its pending timer decides, on time or late
    moment = min(moment, arrived, now)
    if not no_gap(moment, now):
        return None
    return decided_on_time(state, unit, rules, moment - CATCH_UP_AFTER, moment)
