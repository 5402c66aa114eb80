"""What the engine plans next for a hazard: its state and timer in Redis (through
services.store), its timeline from the rules core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from redis.asyncio import Redis

from services.audit.story import KIND_LABELS, Label, Step, no_labels
from services.core.evaluate import Rules
from services.core.state import OPEN_STATUSES, HazardState
from services.core.timeline import occurrences
from services.core.workcalendar import WorkCalendar
from services.store.entities import RedisEntityStore
from services.store.keys import TIMERS_KEY, hazard_key

HORIZON = timedelta(days=90)  # how far ahead the timeline is expanded
SHOWN = 5  # planned steps shown


@dataclass(frozen=True)
class Planned:
    """The engine's view of a hazard: its state, its timer, the next steps."""

    state: HazardState | None = None
    timer_at: datetime | None = None
    steps: list[Step] = field(default_factory=list)


def overdue(state: HazardState | None, now: datetime) -> bool:
    """An open hazard whose deadline has passed."""
    if state is None or state.status not in OPEN_STATUSES or state.deadline is None:
        return False
    return state.deadline < now


async def planned(
    redis: Redis, rules: Rules, hazard_id: str, now: datetime, label: Label = no_labels
) -> Planned:
    """The hazard's state and next steps; empty when the engine knows no such hazard."""
    [stored] = await RedisEntityStore(redis).read([hazard_key(hazard_id)])
    if stored.json is None:
        return Planned()
    state = HazardState.model_validate_json(stored.json)
    score = await redis.zscore(TIMERS_KEY, f"hazard:{hazard_id}")
    timer_at = None
    if score is not None:
        timer_at = datetime.fromtimestamp(score / 1000, rules.timing.zone)
    return Planned(state, timer_at, next_steps(state, rules, now, label))


def next_steps(state: HazardState, rules: Rules, now: datetime, label: Label) -> list[Step]:
    """The first steps of the hazard's timeline not yet sent, due after `now`."""
    sent = set(state.sent)
    upcoming = sorted(
        (o for o in occurrences(state, rules.timing, now + HORIZON) if o.due_at > now),
        key=lambda o: o.due_at,
    )
    steps = []
    for occ in upcoming:
        if occ.sent_key in sent:
            continue
        kind = KIND_LABELS.get(occ.rule.kind, occ.rule.kind)
        action = f"（{label('actions', occ.step.action)}）" if occ.step.action else ""
        repeat = "" if occ.repeat == 0 else f"，第 {occ.repeat} 次重发"
        roles = "、".join(label("roles", role) for role in occ.step.to)
        steps.append(
            Step(
                occ.due_at,
                "planned",
                f"计划发送{kind}{action}{repeat}",
                notice_id=occ.notice_id(state.hazard_id),
                details={"步骤": f"{occ.rule.id}/{occ.label}", "发给": roles},
            )
        )
        if len(steps) == SHOWN:
            break
    return steps


@dataclass(frozen=True)
class Day:
    """A day of the calendar strip."""

    day: date
    working: bool
    weekend: bool  # a working weekend day is a make-up day (调休)
    marks: tuple[str, ...] = ()


def calendar_strip(
    calendar: WorkCalendar, start: date, days: int, marks: dict[date, list[str]]
) -> list[Day]:
    """`days` days from `start`: rest days, make-up days and what falls on each."""
    strip = []
    for n in range(days):
        d = start + timedelta(days=n)
        strip.append(Day(d, calendar.is_working_day(d), d.weekday() >= 5, tuple(marks.get(d, ()))))
    return strip
