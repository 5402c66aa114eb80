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
from services.core.evaluate import PlannedNotice, Rules
from services.core.state import HazardState, UnitInfo
from services.inbound import Routed, route

DEFAULT_TAIL = timedelta(days=90)


@dataclass
class World:
    """The simulated stores: hazard states, units, and one timer per hazard."""

    hazards: dict[str, HazardState] = field(default_factory=dict)
    units: dict[str, UnitInfo] = field(default_factory=dict)
    timers: list[tuple[datetime, str]] = field(default_factory=list)
    due: dict[str, datetime] = field(default_factory=dict)


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
        # A late event (behind the clock) is applied when reached: at the current clock.
        now = event.time if clock is None else max(clock, event.time)
        yield from _fire_until(world, rules, now)
        clock = now
        yield from _apply(world, route(event), rules, now)
    if last_time is None:
        return
    yield from _fire_until(world, rules, until or last_time + DEFAULT_TAIL)


def _fire_until(world: World, rules: Rules, until: datetime) -> Iterator[PlannedNotice]:
    while world.timers and world.timers[0][0] <= until:
        due_at, hazard_id = heapq.heappop(world.timers)
        if world.due.get(hazard_id) != due_at:
            continue  # re-planned since: a stale timer fires nothing
        del world.due[hazard_id]
        yield from _advance(world, hazard_id, rules, due_at, routed=None)


def _apply(world: World, routed: Routed, rules: Rules, now: datetime) -> Iterator[PlannedNotice]:
    kind, _, entity_id = routed.entity.partition(":")
    if kind == "unit" and routed.unit is not None:
        known = world.units.get(entity_id)
        if (
            known is None
            or known.as_of is None
            or routed.unit.as_of is None
            or (routed.unit.as_of >= known.as_of)
        ):
            world.units[entity_id] = routed.unit
        return
    if kind == "hazard":
        yield from _advance(world, entity_id, rules, now, routed)


def _advance(
    world: World, hazard_id: str, rules: Rules, now: datetime, routed: Routed | None
) -> Iterator[PlannedNotice]:
    state = world.hazards.get(hazard_id)
    unit_id = state.unit.id if state and state.unit else _unit_of(routed)
    facts = [routed.fact] if routed and routed.fact else []
    acks = [routed.ack] if routed and routed.ack else []
    result = advance(state, hazard_id, facts, acks, world.units.get(unit_id or ""), rules, now)
    world.hazards[hazard_id] = result.state
    if result.next_at is not None:
        world.due[hazard_id] = result.next_at
        heapq.heappush(world.timers, (result.next_at, hazard_id))
    else:
        world.due.pop(hazard_id, None)
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
