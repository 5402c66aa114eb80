"""What timers wait for: inbound events not applied yet, each for its own subject.

A timer due at T waits while an inbound event of its own subject that reached Kafka at
or before T is not applied yet. Otherwise a closure, an acknowledgement or a deadline
extension waiting in a stalled partition (its consumer frozen, or redelivering through a
Redis failover) is overtaken by the reminder it cancels: the person is told to rectify a
hazard that was closed minutes ago.

Twice a second (of real time) the gate reads the engine group's committed offsets, the
inbound topics' end offsets and the records in between (at most ``cap`` per partition).
A record names its subject by its key (events are keyed by their subject; an
acknowledgement by its notice id, which names the hazard or task): that subject's timer
waits if it is due at or after the record's Kafka timestamp. A record of no hazard or
task (a duty event, no key) and a partition more than ``cap`` records behind hold every
timer due after them (`Hold.upto`).

Only the subject's own timer waits: a gate on the whole group's progress held every
timer for over a minute behind one frozen consumer, and timers that late are caught up
without a burst (a reminder for a deadline already passed is dropped, repeats due
together go once), which the on-time plan would not have done.

While a timer waits, an event that happened after its due time may be applied first: the
rules core then decides the steps due before that event first (`services.core.advance`),
so waiting never cancels what was due. When the group's applied offsets have not moved
for ``max_hold_s`` of real time while records wait (a partition nobody consumes), timers
fire without waiting, and that is logged: a reminder late by minutes is the lesser harm,
one never sent the greater. Real time (``monotonic``) paces the reads and measures the
hold; under a fake clock that jumps, the gate still reads and still lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.topics import Topics
from services.clock import Clock
from services.core.advance import subject_of_notice
from services.errors import FailureStreak
from services.offsets import Waiting
from services.store.timers import from_ms

log = logging.getLogger("duban.timers")

#: Per inbound partition: (the offset the group has applied up to, the end offset).
Offsets = tuple[Mapping[Hashable, int], Mapping[Hashable, int]]
Behind = Mapping[Hashable, tuple[int, int]]
ReadWaiting = Callable[[Behind, int], Awaitable[Mapping[Hashable, Sequence[Waiting]]]]
SAMPLE_EVERY_S = 0.5
MAX_HOLD_S = 300.0
CAP = 1000  # records read per partition behind; beyond, every later timer waits
WAIT_S = 0.2  # how long a round of the timer loop waits for a read under way
LOG_EVERY_S = 30.0


@dataclass(frozen=True)
class Hold:
    """What the timer loop may claim now: timers due up to `upto`, except a member of
    `members` due at or after its moment there."""

    upto: datetime
    members: Mapping[str, datetime] = field(default_factory=dict)


@dataclass
class Watermark:
    """What timers wait for: see the module's docstring."""

    read: Callable[[], Awaitable[Offsets]]
    waiting: ReadWaiting
    clock: Clock
    topics: Topics
    every_s: float = SAMPLE_EVERY_S
    max_hold_s: float = MAX_HOLD_S
    cap: int = CAP
    wait_s: float = WAIT_S
    monotonic: Callable[[], float] = time.monotonic
    _last_read_s: float | None = field(default=None, init=False)
    _since_s: float = field(default=0.0, init=False)  # caught up, or applied offsets moved
    _applied: dict[Hashable, int] = field(default_factory=dict, init=False)
    _behind: dict[Hashable, tuple[int, int]] = field(default_factory=dict, init=False)
    _upto: datetime | None = field(default=None, init=False)
    _members: dict[str, datetime] = field(default_factory=dict, init=False)
    _holding_logged: bool = field(default=False, init=False)
    _reading: asyncio.Task[None] | None = field(default=None, init=False)
    _failures: FailureStreak = field(init=False)

    def __post_init__(self) -> None:
        # Kafka down: timers go on firing, so a warning, once a streak and then every
        # LOG_EVERY_S
        self._failures = FailureStreak(
            log,
            "timer gate: reading offsets (the last view stands)",
            every_s=LOG_EVERY_S,
            monotonic=self.monotonic,
            level=logging.WARNING,
        )

    async def hold(self) -> Hold:
        """What may fire now. Starts a read of the offsets (and the records behind) when
        one is due and waits for it at most ``wait_s``: while Kafka is down or slow, the
        last view read stands (nothing can be applied or arrive meanwhile either), so
        timers keep firing on Redis alone."""
        now, real = self.clock.now(), self.monotonic()
        if self._reading is None and (
            self._last_read_s is None or real - self._last_read_s >= self.every_s
        ):
            self._last_read_s = real
            self._reading = asyncio.create_task(self._sample_logged(real))
        if self._reading is not None:
            await asyncio.wait({self._reading}, timeout=self.wait_s)
            if self._reading.done():
                self._reading = None
        if not self._behind:
            return Hold(now)
        if real - self._since_s > self.max_hold_s:
            if not self._holding_logged:
                log.warning(
                    "inbound events not applied for %.0f s: timers fire without them",
                    real - self._since_s,
                )
                self._holding_logged = True
            return Hold(now)
        self._holding_logged = False
        upto = now if self._upto is None else min(now, self._upto)
        return Hold(upto, dict(self._members))

    async def aclose(self) -> None:
        """Stop a read under way."""
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(BaseException):
                await self._reading
            self._reading = None

    def lag_s(self) -> float:
        """How long the oldest record that holds a timer has waited (seconds; 0: none)."""
        moments = [*self._members.values(), *([self._upto] if self._upto else [])]
        if not self._behind or not moments:
            return 0.0
        return max(0.0, (self.clock.now() - min(moments)).total_seconds())

    def behind(self) -> dict[Hashable, tuple[int, int]]:
        """The partitions with records not applied: (applied, end)."""
        return dict(self._behind)

    def waiting_subjects(self) -> int:
        """How many hazards and tasks have a timer that may wait."""
        return len(self._members)

    async def _sample_logged(self, real: float) -> None:
        try:
            await self._sample(real)
        except Exception as e:  # Kafka down: the last view stands
            self._failures.failed(e, self.every_s)
            return
        self._failures.succeeded()

    async def _sample(self, real: float) -> None:
        """Read a new view; it replaces the last one whole, once read whole (the timer
        loop looks at the view while a read is under way)."""
        applied, ends = await self.read()
        behind = {tp: (applied.get(tp, 0), end) for tp, end in ends.items()}
        behind = {tp: (done, end) for tp, (done, end) in behind.items() if done < end}
        upto: datetime | None = None
        members: dict[str, datetime] = {}
        if behind:
            upto, members = holds(await self.waiting(behind, self.cap), self.cap, self.topics)
        if not behind or dict(applied) != self._applied:
            self._since_s = real
        self._applied, self._behind = dict(applied), behind
        self._upto, self._members = upto, members


def holds(
    found: Mapping[Hashable, Sequence[Waiting]], cap: int, topics: Topics
) -> tuple[datetime | None, dict[str, datetime]]:
    """(the moment every later timer waits from, or None; each member's moment)."""
    everyone: list[datetime] = []  # moments that hold every timer after them
    members: dict[str, datetime] = {}
    for records in found.values():
        for record in records:
            at = from_ms(record.timestamp_ms)
            member = member_of(record, topics)
            if member is None:
                everyone.append(at)
            else:
                members[member] = min(members.get(member, at), at)
        if len(records) >= cap:  # more behind it, unread: every timer after it waits
            everyone.append(from_ms(records[-1].timestamp_ms))
    return min(everyone, default=None), members


def member_of(record: Waiting, topics: Topics) -> str | None:
    """The timer member ("hazard:<id>", "task:<id>") a record's key names; None when it
    names no hazard or task."""
    if not record.key:
        return None
    key = record.key.decode("utf-8", errors="replace")
    if record.topic == topics.hazard_events:
        return f"hazard:{key}"
    if record.topic == topics.task_events:
        return f"task:{key}"
    if record.topic == topics.notice_acks:
        subject = subject_of_notice(key)
        return f"{subject[0]}:{subject[1]}" if subject else None
    return None
