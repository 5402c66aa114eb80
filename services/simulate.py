"""`duban simulate`: replay events through the engine's own service layer on a virtual clock.

The engine runs as in production (`Engine.apply` when an event arrives, `Engine.fire`
when a timer falls due) over the in-memory stores of services.store.memory, so there is
one copy of what happens; the notices it publishes are collected and printed. No Kafka,
no Redis.

What the engine would log while doing so (a calendar year without data, a role resolving
to nobody, an unknown department or industry) is collected too, once per distinct text,
for `duban simulate` to print on stderr; an input line the engine would dead-letter is
reported with its line number and skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.registry import Event, InvalidEvent, parse_event
from services.core.evaluate import PlannedNotice, Rules
from services.core.workcalendar import fallback_warning
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
    """Parse JSON Lines; blank lines are skipped, invalid ones reported, none fatal.

    A line is invalid where the engine would dead-letter it: not a valid v1 event, or
    not one the engine consumes (a receipt, an acknowledgement of no duban notice)."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield _read_one(number, line)


def read_event_file(text: str) -> Iterator[Event | Rejected]:
    """An events file: JSON Lines, or one event as a (pretty-printed) JSON document, as
    in contracts/examples/."""
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and "\n" in text.strip():
        yield _read_one(1, text)
        return
    yield from read_events(text.splitlines())


def _read_one(number: int, text: str) -> Event | Rejected:
    try:
        event = parse_event(text.encode())
        route(event)  # the engine dead-letters what it cannot bind to an entity
    except InvalidEvent as e:
        return Rejected(number, e.reason)
    return event


class Replay:
    """The engine on in-memory stores and a virtual clock that follows events and timers."""

    def __init__(self, rules: Rules, start: datetime) -> None:
        self.clock = VirtualClock(start)
        self.store = MemoryEntityStore()
        self.sink = RecordingSink()
        self.engine = Engine(rules, self.store, self.sink, self.clock)

    async def start(self) -> None:
        """The listed departments are first seen, and digests start, at the simulation's start."""
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
    events: Iterable[Event],
    rules: Rules,
    until: datetime | None = None,
    warnings: list[str] | None = None,
) -> Iterator[PlannedNotice]:
    """Every notice the events would cause, in time order, on a virtual clock.

    What the engine would log as warnings or errors is appended to `warnings` (if given),
    each distinct text once. Runs its own event loop: call it from synchronous code.
    """
    stream = iter(events)
    first = next(stream, None)
    if first is None:
        return
    replay = Replay(rules, first.time)
    last_time = first.time
    collected = warnings if warnings is not None else []
    with _engine_log(rules, collected) as look, asyncio.Runner() as runner:
        runner.run(replay.start())
        for event in itertools.chain([first], stream):
            last_time = max(last_time, event.time)
            runner.run(replay.arrive(event))
            look()
            yield from replay.sink.take()
        runner.run(replay.fire_until(until or last_time + DEFAULT_TAIL))
        look()
        yield from replay.sink.take()


class _Collect(logging.Handler):
    """Keeps the text of each distinct warning or error the engine logs, in order."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.into:
            self.into.append(text)


@contextmanager
def _engine_log(rules: Rules, into: list[str]) -> Iterator[Any]:
    """Collect the engine's log warnings into `into` (instead of printing them as they
    come); `look()` adds a warning for each calendar year newly fallen back on, as the
    running engine logs it once per year."""
    handler = _Collect(into)
    logger = logging.getLogger("duban")
    calendar = rules.timing.calendar
    told: set[int] = set()

    def look() -> None:
        for year in sorted(calendar.uncovered_years_used - told):
            told.add(year)
            handler.emit(logging.makeLogRecord({"msg": fallback_warning(year)}))

    logger.addHandler(handler)
    try:
        yield look
    finally:
        logger.removeHandler(handler)


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
