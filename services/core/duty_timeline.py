"""When a duty's reminders and letters fall, and which are due: pure, `now` passed in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.core.duties import Duty, DutyState
from services.core.evaluate import PlannedNotice, Rules, address
from services.core.periods import Period, PeriodKind, next_period, period_containing
from services.core.recipients import Subject
from services.core.state import UnitInfo
from services.core.timeline import in_office, shift

# After downtime, periods further back than this are not written up any more.
_PERIODS_BACK = 2


@dataclass(frozen=True)
class DutyStep:
    """A reminder or the letter of one period."""

    period: Period
    step: str  # "r1", "r2", … or "letter"
    due_at: datetime

    @property
    def key(self) -> str:
        """Occurrence key recorded once decided."""
        return f"{self.period.key}:{self.step}"


@dataclass
class DutyEvaluation:
    """Notices due now, occurrences decided, the next moment to look, and periods missed."""

    notices: list[PlannedNotice] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    missed: list[tuple[str, datetime]] = field(default_factory=list)
    next_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def fulfil(state: DutyState, duty: Duty, high_risk: bool, at: datetime, rules: Rules) -> DutyState:
    """Record a fulfilment in the period containing `at`."""
    period = period_containing(duty.period_for(high_risk), at, rules.timing.zone)
    if period.key in state.fulfilled:
        return state
    return state.model_copy(update={"fulfilled": [*state.fulfilled, period.key][-24:]})


def first_period(duty: Duty, kind: PeriodKind, since: datetime, rules: Rules) -> Period:
    """The first period owed by a unit or department first seen at `since`: the period
    then current, or the next one (see Duty.owe_first_period)."""
    seen_in = period_containing(kind, since, rules.timing.zone)
    if duty.owe_first_period == "always":
        return seen_in
    if duty.owe_first_period == "when_reminder_ahead":
        reminders = [s.due_at for s in _period_steps(duty, seen_in, rules) if s.step != "letter"]
        if reminders and min(reminders) > since:
            return seen_in
    return next_period(seen_in)


def new_state(
    subject_id: str, duty: Duty, high_risk: bool, rules: Rules, now: datetime
) -> DutyState:
    """The state of a duty of a unit or department first seen `now`: which period it owes
    first is decided once, here."""
    first = first_period(duty, duty.period_for(high_risk), now, rules)
    return DutyState(subject_id=subject_id, duty=duty.id, owed_since=now, owed_from=first.start)


def steps(
    state: DutyState, duty: Duty, high_risk: bool, rules: Rules, now: datetime
) -> Iterator[DutyStep]:
    """Reminders and letters of the recent periods up to the one containing `now`."""
    if state.owed_since is None:
        return
    zone = rules.timing.zone
    kind = duty.period_for(high_risk)
    first = next_period(period_containing(kind, state.owed_since, zone))
    if state.owed_from is not None:
        # The period length may have changed since (a unit now high-risk): never a
        # period before the one it was first seen in.
        start = max(state.owed_from, period_containing(kind, state.owed_since, zone).start)
        first = period_containing(kind, start, zone)
    period = period_containing(kind, now, zone)
    for _ in range(_PERIODS_BACK):
        if period.start <= first.start:
            break
        period = period_containing(kind, period.start - timedelta(microseconds=1), zone)
    period = first if period.start < first.start else period
    while True:
        yield from _period_steps(duty, period, rules)
        if period.end > now:  # its letter (at or after the end) is still to come
            return
        period = next_period(period)


def evaluate_duty(
    state: DutyState,
    duty: Duty,
    high_risk: bool,
    subject: Subject,
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
) -> DutyEvaluation:
    """Decide the duty's reminders and letter due at `now`.

    After a gap (downtime, a late event) several steps of a period may be due at once:
    only the latest is sent (the letter rather than a reminder of a period already
    over); the others are decided without a notice."""
    result = DutyEvaluation()
    sent = set(state.sent)
    latest: dict[str, DutyStep] = {}
    for step in steps(state, duty, high_risk, rules, now):
        if step.key in sent:
            continue
        if step.due_at > now:
            result.next_at = (
                step.due_at if result.next_at is None else min(result.next_at, step.due_at)
            )
            continue
        result.decided.append(step.key)
        if step.period.key in state.fulfilled:
            continue
        if step.step == "letter":
            result.missed.append((step.period.key, step.period.end))
        latest[step.period.key] = step  # steps come in time order within a period
    for step in latest.values():
        _notify(result, state, duty, step, subject, unit, rules, now)
    return result


def record(state: DutyState, evaluation: DutyEvaluation) -> DutyState:
    """The state with decided occurrences and missed periods recorded (bounded)."""
    if not evaluation.decided:
        return state
    return state.model_copy(
        update={
            "sent": [*state.sent, *evaluation.decided][-48:],
            "missed": [*state.missed, *evaluation.missed][-24:],
        }
    )


def _period_steps(duty: Duty, period: Period, rules: Rules) -> Iterator[DutyStep]:
    """A period's reminders and letter, each in office hours on a working day."""
    timing = rules.timing
    for n, offset in enumerate(duty.reminders, start=1):
        yield DutyStep(period, f"r{n}", in_office(shift(period.end, offset, timing), timing))
    yield DutyStep(period, "letter", in_office(shift(period.end, duty.letter_at, timing), timing))


def _notify(
    result: DutyEvaluation,
    state: DutyState,
    duty: Duty,
    step: DutyStep,
    subject: Subject,
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
) -> None:
    letter = step.step == "letter"
    facts: dict[str, Any] = {
        "duty": duty.id,
        "owed_by": duty.owed_by,
        "subject_id": state.subject_id,
        "subject_name": _subject_name(subject, unit, rules),
        "period_key": step.period.key,
        "period_end": step.period.end.isoformat(),
    }
    address(
        result.notices,
        result.warnings,
        notice_id=f"duty:{state.subject_id}:{duty.id}:{step.period.key}:{step.step}",
        occurrence=0,
        kind="duty",
        action="letter" if letter else None,
        subject=subject,
        unit=unit,
        roles=duty.letter_to if letter else duty.remind_to,
        due_at=step.due_at,
        now=now,
        facts=facts,
        rules=rules,
        level=None,
    )


def _subject_name(subject: Subject, unit: UnitInfo | None, rules: Rules) -> str:
    if unit is not None:
        return unit.name or unit.unit_id
    department = rules.index.departments.get(subject.id)
    return department.name if department else subject.id


@dataclass
class DutyAdvanced:
    """A duty state after one step, with its notices and next moment."""

    state: DutyState
    notices: list[PlannedNotice]
    next_at: datetime | None
    warnings: list[str]


def advance_duty(
    state: DutyState,
    duty: Duty,
    subject: Subject,
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
    fulfilled_at: datetime | None = None,
) -> DutyAdvanced:
    """Apply a fulfilment (if any), then decide what is due at `now`; pure."""
    high_risk = is_high_risk(unit, rules)
    if fulfilled_at is not None:
        state = fulfil(state, duty, high_risk, fulfilled_at, rules)
    evaluation = evaluate_duty(state, duty, high_risk, subject, unit, rules, now)
    state = record(state, evaluation)
    return DutyAdvanced(state, evaluation.notices, evaluation.next_at, evaluation.warnings)


def is_high_risk(unit: UnitInfo | None, rules: Rules) -> bool:
    """High-risk as the unit says, else by industry (directory.high_risk_industries)."""
    if unit is None:
        return False
    if unit.high_risk is not None:
        return unit.high_risk
    return (unit.industry or "") in rules.index.directory.high_risk_industries


def unit_duties(unit: UnitInfo, rules: Rules) -> list[Duty]:
    """The unit-owed duties that apply to this unit."""
    return [
        d
        for d in rules.duties.duties
        if d.owed_by == "unit" and (d.industries is None or unit.industry in d.industries)
    ]


def department_duties(rules: Rules) -> list[tuple[str, Duty]]:
    """(department id, duty) for each department listed for a department-owed duty and
    known to the directory (`duban config check` warns about the others)."""
    return [
        (dept, d)
        for d in rules.duties.duties
        if d.owed_by == "department"
        for dept in dict.fromkeys(d.departments or ())
        if dept in rules.index.departments
    ]


def duty_subject(subject_id: str, unit: UnitInfo | None) -> Subject:
    """The resolution view of a duty's owner (a unit, or a department by id)."""
    if unit is not None:
        return Subject(id=unit.unit_id, industry=unit.industry or "", region=unit.region or "")
    return Subject(id=subject_id, supervising_department=subject_id)


def duty_member(duty_id: str, subject_id: str) -> str:
    """Timer member of a duty of a subject."""
    return f"duty:{duty_id}:{subject_id}"
