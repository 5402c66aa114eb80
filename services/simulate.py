"""`duban simulate`: replay events on a virtual clock through the same core the engine runs."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.registry import Event, InvalidEvent, parse_event
from services.core.advance import advance
from services.core.digest import DigestState, missed_duties, run_digest
from services.core.duties import DutyState
from services.core.duty_timeline import (
    advance_duty,
    department_duties,
    duty_member,
    duty_subject,
    unit_duties,
)
from services.core.evaluate import PlannedNotice, Rules
from services.core.state import HazardState, UnitInfo
from services.inbound import Routed, route

DEFAULT_TAIL = timedelta(days=90)


@dataclass
class World:
    """The simulated stores: states, units, and one timer per member (as in Redis)."""

    hazards: dict[str, HazardState] = field(default_factory=dict)
    units: dict[str, UnitInfo] = field(default_factory=dict)
    duties: dict[str, DutyState] = field(default_factory=dict)  # by timer member
    digests: dict[str, DigestState] = field(default_factory=dict)
    timers: list[tuple[datetime, str]] = field(default_factory=list)
    due: dict[str, datetime] = field(default_factory=dict)

    def schedule(self, member: str, at: datetime | None) -> None:
        """Set or clear a member's timer (a re-planned timer leaves a stale heap entry)."""
        if at is None:
            self.due.pop(member, None)
            return
        self.due[member] = at
        heapq.heappush(self.timers, (at, member))


@dataclass(frozen=True)
class Rejected:
    """A line of the events file that is not a valid v1 event."""

    line: int
    reason: str


def read_events(lines: Iterable[str]) -> Iterator[Event | Rejected]:
    """Parse JSON Lines; blank lines are skipped, invalid ones reported, none fatal."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield parse_event(line.encode())
        except InvalidEvent as e:
            yield Rejected(number, e.reason)


def simulate(
    events: Iterable[Event], rules: Rules, until: datetime | None = None
) -> Iterator[PlannedNotice]:
    """Every notice the events would cause, in time order, on a virtual clock."""
    world = World()
    clock: datetime | None = None
    last_time: datetime | None = None
    for event in events:
        last_time = event.time if last_time is None else max(last_time, event.time)
        if clock is None:
            _bootstrap(world, rules, event.time)
        # A late event (behind the clock) is applied when reached: at the current clock.
        now = event.time if clock is None else max(clock, event.time)
        yield from _fire_until(world, rules, now)
        clock = now
        yield from _apply(world, route(event), rules, now)
    if last_time is None:
        return
    yield from _fire_until(world, rules, until or last_time + DEFAULT_TAIL)


def _bootstrap(world: World, rules: Rules, start: datetime) -> None:
    """Department duties and digests run from the simulation's start."""
    for dept_id, duty in department_duties(rules):
        member = duty_member(duty.id, dept_id)
        world.duties[member] = DutyState(subject_id=dept_id, duty=duty.id, owed_since=start)
        world.schedule(member, start)
    for digest in rules.duties.digests:
        world.digests[digest.id] = DigestState(digest=digest.id, since=start)
        world.schedule(f"digest:{digest.id}", start)


def _fire_until(world: World, rules: Rules, until: datetime) -> Iterator[PlannedNotice]:
    while world.timers and world.timers[0][0] <= until:
        due_at, member = heapq.heappop(world.timers)
        if world.due.get(member) != due_at:
            continue  # re-planned since: a stale timer fires nothing
        del world.due[member]
        kind, _, rest = member.partition(":")
        if kind == "hazard":
            yield from _advance(world, rest, rules, due_at, routed=None)
        elif kind == "duty":
            yield from _advance_duty(world, member, rules, due_at)
        else:
            yield from _run_digest(world, rest, rules, due_at)


def _apply(world: World, routed: Routed, rules: Rules, now: datetime) -> Iterator[PlannedNotice]:
    kind, _, entity_id = routed.entity.partition(":")
    if kind == "unit" and routed.unit is not None:
        yield from _upsert_unit(world, routed.unit, rules, now)
    elif kind == "hazard":
        yield from _advance(world, entity_id, rules, now, routed)
    elif kind == "duty" and routed.duty is not None:
        member = duty_member(str(routed.duty.data["duty"]), entity_id)
        when = datetime.fromisoformat(str(routed.duty.data["fulfilled_at"]))
        yield from _advance_duty(world, member, rules, now, fulfilled_at=when)


def _upsert_unit(
    world: World, unit: UnitInfo, rules: Rules, now: datetime
) -> Iterator[PlannedNotice]:
    known = world.units.get(unit.unit_id)
    if known and known.as_of and unit.as_of and unit.as_of < known.as_of:
        return
    world.units[unit.unit_id] = unit
    for duty in unit_duties(unit, rules):
        member = duty_member(duty.id, unit.unit_id)
        if member not in world.duties:
            world.duties[member] = DutyState(
                subject_id=unit.unit_id, duty=duty.id, owed_since=unit.as_of or now
            )
        yield from _advance_duty(world, member, rules, now)


def _advance_duty(
    world: World, member: str, rules: Rules, now: datetime, fulfilled_at: datetime | None = None
) -> Iterator[PlannedNotice]:
    state = world.duties.get(member)
    duty = next((d for d in rules.duties.duties if state and d.id == state.duty), None)
    if state is None or duty is None:
        return  # a fulfilment of a duty no policy defines, or of an unknown unit
    unit = world.units.get(state.subject_id)
    result = advance_duty(
        state, duty, duty_subject(state.subject_id, unit), unit, rules, now, fulfilled_at
    )
    world.duties[member] = result.state
    world.schedule(member, result.next_at)
    yield from result.notices


def _run_digest(
    world: World, digest_id: str, rules: Rules, now: datetime
) -> Iterator[PlannedNotice]:
    digest = next(d for d in rules.duties.digests if d.id == digest_id)
    state = world.digests[digest_id]
    names = {u.unit_id: u.name or u.unit_id for u in world.units.values()}
    missed = missed_duties(world.duties.values(), names)
    run = run_digest(digest, state, list(world.hazards.values()), missed, rules, now)
    if run.period_key is not None:
        world.digests[digest_id] = state.model_copy(update={"sent": [*state.sent, run.period_key]})
    world.schedule(f"digest:{digest_id}", run.next_at)
    yield from run.notices


def _advance(
    world: World, hazard_id: str, rules: Rules, now: datetime, routed: Routed | None
) -> Iterator[PlannedNotice]:
    state = world.hazards.get(hazard_id)
    unit_id = state.unit.id if state and state.unit else _unit_of(routed)
    facts = [routed.fact] if routed and routed.fact else []
    acks = [routed.ack] if routed and routed.ack else []
    result = advance(state, hazard_id, facts, acks, world.units.get(unit_id or ""), rules, now)
    world.hazards[hazard_id] = result.state
    if result.replanned:
        world.schedule(f"hazard:{hazard_id}", result.next_at)
    yield from result.notices


def _unit_of(routed: Routed | None) -> str | None:
    if routed is None or routed.fact is None:
        return None
    unit = routed.fact.data.get("unit")
    return unit.get("id") if isinstance(unit, dict) else None


def notice_line(notice: PlannedNotice) -> dict[str, Any]:
    """The JSON object `duban simulate` prints for one notice and recipient."""
    first = notice.channels[0]
    return {
        "at": notice.at.isoformat(),
        "subject": notice.subject,
        "notice_id": notice.notice_id,
        "kind": notice.kind,
        "action": notice.action,
        "recipient": notice.recipient.person.id,
        "channel": first.channel,
        "role": notice.recipient.role,
        "occurrence": notice.occurrence,
        "deliver_at": (first.not_before or notice.at).isoformat(),
        "channels": [c.channel for c in notice.channels],
    }


def dumps(notice: PlannedNotice) -> str:
    """One JSON Lines row."""
    return json.dumps(notice_line(notice), ensure_ascii=False)
