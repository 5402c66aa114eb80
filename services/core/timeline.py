"""A hazard's timeline: every step occurrence its rules call for, and which are due now."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from services.core.offsets import Offset
from services.core.policy import Match, Policy, Rule, Step
from services.core.state import OPEN_STATUSES, HazardState
from services.core.workcalendar import WorkCalendar

# A periodic step (e.g. weekly supervision) is expanded at most this far; a year of weeks.
MAX_PERIODIC = 60
_DAY_UNITS = frozenset({"day", "working_day", "week"})
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Occurrence:
    """One sending of one step: the first (repeat 0) or a repeat to those who did not ack."""

    rule: Rule
    step: Step
    label: str  # step name, plus ".k" for the k-th period of a periodic step
    anchor_at: datetime
    due_at: datetime
    repeat: int
    stamp: str  # the anchor, compact UTC: re-anchoring (a new deadline) makes new notices

    @property
    def sent_key(self) -> str:
        """Key recorded in state once this occurrence was decided."""
        return f"{self.rule.id}:{self.label}:{self.stamp}#{self.repeat}"

    def notice_id(self, subject_id: str, kind: str = "hazard") -> str:
        """The notice this occurrence belongs to (repeats share it; acks refer to it):
        "<hazard|task>:<id>:<rule>:<step>:<stamp>"."""
        return f"{kind}:{subject_id}:{self.rule.id}:{self.label}:{self.stamp}"


@dataclass(frozen=True)
class Timing:
    """What time maths needs: the policy, the statutory calendar and the local zone."""

    policy: Policy
    calendar: WorkCalendar
    zone: ZoneInfo
    day_steps_at: time | None
    office: tuple[time, time] | None = None  # (send time, end of hours) on working days


def matches(match: Match, state: HazardState) -> bool:
    """Whether a rule's `match` covers this hazard or task (rules are for one or the other)."""
    if match.subject != state.kind:
        return False
    if state.kind == "task":
        return match.listed is None or match.listed == (state.listed_by is not None)
    unit = state.unit
    if unit is None:
        return False
    checks = (
        match.level is None or match.level == state.level,
        match.industries is None or unit.industry in match.industries,
        match.regions is None or unit.region in match.regions,
        match.listed is None or match.listed == (state.listed_by is not None),
        match.found_by is None or state.found_by in match.found_by,
        match.incomplete is None or match.incomplete == incomplete(state),
    )
    return all(checks)


def incomplete(state: HazardState) -> bool:
    """Whether the hazard still lacks a deadline or a responsible person (五落实)."""
    return state.deadline is None or not state.responsible


def anchor_of(rule: Rule, state: HazardState) -> tuple[datetime, datetime] | None:
    """(anchor moment, moment duban learned it) while the rule's condition holds, else None."""
    times = state.field_times
    if rule.anchor == "reported" and state.status != "cancelled" and state.reported_at:
        return state.reported_at, state.reported_at
    if rule.anchor == "deadline" and state.status in OPEN_STATUSES and state.deadline:
        return state.deadline, state.deadline_set_at or state.deadline
    if rule.anchor == "rectified" and state.status == "rectified" and state.rectified_at:
        return state.rectified_at, times.get("status", state.rectified_at)
    if rule.anchor == "listed" and state.listed_at and state.status in OPEN_STATUSES:
        # Listed supervision stops once rectification is reported; verification takes over.
        return state.listed_at, times.get("listed", state.listed_at)
    if rule.anchor == "closed" and state.status == "closed" and state.closed_at:
        return state.closed_at, times.get("status", state.closed_at)
    return _change_anchor(rule, state)


def _change_anchor(rule: Rule, state: HazardState) -> tuple[datetime, datetime] | None:
    """Anchors of the lifecycle's changes: a reopening, a deadline replaced by another."""
    if state.status not in OPEN_STATUSES:
        return None
    if rule.anchor == "reopened" and state.reopened_at:
        return state.reopened_at, state.reopened_at
    changed = state.deadline_changed_at
    if rule.anchor == "deadline_changed" and changed and state.deadline:
        return changed, changed
    return None


def shift(moment: datetime, offset: Offset, timing: Timing) -> datetime:
    """Apply an offset; day-sized steps land at the policy's office time of that day."""
    due = offset.apply(moment, timing.calendar)
    if offset.amount == 0 or offset.unit not in _DAY_UNITS or timing.day_steps_at is None:
        return due
    local_day = due.astimezone(timing.zone).date()
    return datetime.combine(local_day, timing.day_steps_at, tzinfo=timing.zone)


def in_office(moment: datetime, timing: Timing) -> datetime:
    """`moment` if it falls within office hours on a working day, else the next working
    morning at the send time (a deadline at 23:59:59 on 09-30 → 10-08 09:00)."""
    if timing.office is None:
        return moment
    send_at, end = timing.office
    local = moment.astimezone(timing.zone)
    day, clock = local.date(), local.time()
    if timing.calendar.is_working_day(day) and send_at <= clock < end:
        return moment
    if not timing.calendar.is_working_day(day) or clock >= end:
        day = timing.calendar.add_working_days(
            datetime.combine(day, send_at, tzinfo=timing.zone), 1
        ).date()
    return datetime.combine(day, send_at, tzinfo=timing.zone)


def occurrences(state: HazardState, timing: Timing, until: datetime) -> Iterator[Occurrence]:
    """Every step occurrence of every applicable rule due no later than `until`, plus the next."""
    for rule in timing.policy.rules:
        if rule.kind in {"duty", "digest"} or not matches(rule.match, state):
            continue
        anchored = anchor_of(rule, state)
        if anchored is None:
            continue
        anchor_at, known_since = anchored
        stamp = anchor_stamp(anchor_at)
        for step in rule.steps:
            yield from _step_occurrences(rule, step, anchor_at, stamp, known_since, timing, until)


def anchor_stamp(anchor_at: datetime) -> str:
    """An anchor moment as compact UTC text, part of notice ids."""
    return anchor_at.astimezone(_UTC).strftime("%Y%m%dT%H%M%SZ")


def _step_occurrences(
    rule: Rule,
    step: Step,
    anchor_at: datetime,
    stamp: str,
    known_since: datetime,
    timing: Timing,
    until: datetime,
) -> Iterator[Occurrence]:
    first = shift(anchor_at, step.offset, timing)
    # A reminder due before duban learned its anchor is pointless; late escalations still go.
    if step.offset.amount < 0 and first < known_since:
        return
    office = (lambda m: in_office(m, timing)) if rule.working_hours else (lambda m: m)
    bases = [(step.name, office(first))]
    if step.every is not None:
        bases = list(_periods(step, office(first), timing, until, office))
    repeat = step.repeat or rule.repeat
    for label, base in bases:
        yield Occurrence(rule, step, label, anchor_at, base, 0, stamp)
        if repeat is None:
            continue
        due = base
        for n in range(1, repeat.times + 1):
            due = office(shift(due, repeat.every, timing))
            yield Occurrence(rule, step, label, anchor_at, due, n, stamp)
            if due > until:
                break


def _periods(
    step: Step,
    first: datetime,
    timing: Timing,
    until: datetime,
    office: Callable[[datetime], datetime],
) -> Iterator[tuple[str, datetime]]:
    assert step.every is not None
    due = first
    for k in range(MAX_PERIODIC):
        yield f"{step.name}.{k + 1}", due
        if due > until:
            return
        due = office(shift(due, step.every, timing))
