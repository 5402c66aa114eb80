"""How far the engine group has applied its inbound events, as a moment of the clock.

A timer due at T may fire only once every inbound event that reached Kafka before T has
been applied. Otherwise a closure, an acknowledgement or a deadline extension waiting
in a stalled partition (its consumer frozen, or redelivering through a Redis failover)
is overtaken by the reminder it cancels: the person is told to rectify a hazard that
was closed minutes ago.

The watermark is the latest moment t such that every inbound partition's committed
offset has reached the end offset it had at t. It is sampled (end offsets read just
after t is taken) at most every ``every_s`` of real time, and trails the clock by about
the time events take to be applied; the timer loop claims only timers due up to it.
While a timer waits, an event that came *after* its due time may be applied first: the
rules core then decides the steps due before that event's time first (see
`services.core.advance`), so the wait never cancels what was due. When the watermark has
not moved for ``max_hold_s`` of real time (a partition nobody consumes) the clock is
used again, and that is logged: a reminder late by minutes is the lesser harm, one never
sent the greater.

Real time (``monotonic``) paces the samples and measures the hold, the clock labels
them: under a fake clock that jumps, the gate still samples and still lets go.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.clock import Clock

log = logging.getLogger("duban.timers")

#: Per inbound partition: (the offset the group has applied up to, the end offset).
Offsets = tuple[Mapping[Hashable, int], Mapping[Hashable, int]]
SAMPLE_EVERY_S = 0.5
MAX_HOLD_S = 300.0
KEEP_SAMPLES = 4096  # at SAMPLE_EVERY_S: half an hour of samples not yet reached


@dataclass
class _Sample:
    at: datetime  # the clock when it was taken
    taken_s: float  # real time when it was taken
    ends: Mapping[Hashable, int]


@dataclass
class Watermark:
    """Up to when timers may fire: see the module's docstring."""

    read: Callable[[], Awaitable[Offsets]]
    clock: Clock
    every_s: float = SAMPLE_EVERY_S
    max_hold_s: float = MAX_HOLD_S
    monotonic: Callable[[], float] = time.monotonic
    _samples: deque[_Sample] = field(default_factory=lambda: deque(maxlen=KEEP_SAMPLES))
    _reached: _Sample | None = field(default=None, init=False)
    _last_read_s: float | None = field(default=None, init=False)
    _since_s: float | None = field(default=None, init=False)  # created, or last moved
    _holding_logged: bool = field(default=False, init=False)
    _applied: dict[Hashable, int] = field(default_factory=dict, init=False)

    async def upto(self) -> datetime | None:
        """The moment timers may fire up to now; None while no moment is reached yet.
        Reads offsets when a sample is due; a failure to read is raised, as the timers'
        own store's would be."""
        now, real = self.clock.now(), self.monotonic()
        if self._since_s is None:
            self._since_s = real
        if self._last_read_s is None or real - self._last_read_s >= self.every_s:
            self._last_read_s = real
            await self._sample(now, real)
        if real - self._since_s > self.max_hold_s:
            if not self._holding_logged:
                log.warning(
                    "inbound events not applied for %.0f s: timers fire without them",
                    real - self._since_s,
                )
                self._holding_logged = True
            return now
        self._holding_logged = False
        return None if self._reached is None else min(now, self._reached.at)

    def lag_s(self) -> float:
        """How far the watermark trails the clock now (seconds); before any moment is
        reached, how long it has waited for one."""
        if self._reached is None:
            return 0.0 if self._since_s is None else self.monotonic() - self._since_s
        return max(0.0, (self.clock.now() - self._reached.at).total_seconds())

    def behind(self) -> dict[Hashable, tuple[int, int]]:
        """The partitions holding the watermark back: (applied, end it must reach)."""
        if not self._samples:
            return {}
        ends = self._samples[0].ends
        return {
            tp: (self._applied.get(tp, 0), end)
            for tp, end in ends.items()
            if self._applied.get(tp, 0) < end
        }

    async def _sample(self, now: datetime, real: float) -> None:
        applied, ends = await self.read()
        self._applied = dict(applied)
        self._samples.append(_Sample(now, real, dict(ends)))
        while self._samples and _reached(applied, self._samples[0].ends):
            self._reached = self._samples.popleft()
            self._since_s = self._reached.taken_s


def _reached(applied: Mapping[Hashable, int], ends: Mapping[Hashable, int]) -> bool:
    return all(applied.get(tp, 0) >= end for tp, end in ends.items())
