"""`duban simulate`: replay events through the engine's own service layer on a virtual clock.

The engine runs as in production (`Engine.apply` when an event arrives, `Engine.fire`
when a timer falls due) over the in-memory stores of services.store.memory, so there is
one copy of what happens; the notices it publishes are collected and printed. No Kafka,
no Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.registry import Event, InvalidEvent, parse_event
from services.core.evaluate import PlannedNotice, Rules
from services.engine.work import Engine
from services.inbound import route
from services.store.memory import MemoryEntityStore, RecordingSink, VirtualClock

DEFAULT_TAIL = timedelta(days=90)
# As in Redis: a fired timer is leased, and one its firing did not move comes back later.
TIMER_LEASE_S = 30.0


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


class Replay:
    """The engine on in-memory stores and a virtual clock that follows events and timers."""

    def __init__(self, rules: Rules, start: datetime) -> None:
        self.clock = VirtualClock(start)
        self.store = MemoryEntityStore()
        self.sink = RecordingSink()
        self.engine = Engine(rules, self.store, self.sink, self.clock)

    async def start(self) -> None:
        """Department duties and digests are owed from the simulation's start."""
        await self.engine.duties.bootstrap()

    async def arrive(self, event: Event) -> None:
        """Fire the timers due before the event, then apply it."""
        # A late event (behind the clock) is applied when reached: at the current clock.
        now = max(self.clock.now(), event.time)
        await self.fire_until(now)
        self.clock.set(now)
        await self.engine.apply([route(event)])

    async def fire_until(self, until: datetime) -> None:
        """Fire every timer due by `until`, one at a time, each at its own due time."""
        timers = self.store.timers
        while (due := await timers.next_due()) is not None and due <= until:
            self.clock.set(due)
            claimed = await timers.claim_due(due, 1, TIMER_LEASE_S)
            await self.engine.fire([timer.member for timer in claimed])


def simulate(
    events: Iterable[Event], rules: Rules, until: datetime | None = None
) -> Iterator[PlannedNotice]:
    """Every notice the events would cause, in time order, on a virtual clock.

    Runs its own event loop: call it from synchronous code.
    """
    stream = iter(events)
    first = next(stream, None)
    if first is None:
        return
    replay = Replay(rules, first.time)
    last_time = first.time
    with asyncio.Runner() as runner:
        runner.run(replay.start())
        for event in itertools.chain([first], stream):
            last_time = max(last_time, event.time)
            runner.run(replay.arrive(event))
            yield from replay.sink.take()
        runner.run(replay.fire_until(until or last_time + DEFAULT_TAIL))
        yield from replay.sink.take()


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
