"""Timers: schedule and fire many pending timers; duban's TimerStore beside a raw sorted set.

Protocol, the same for duban and the raw loop:

* schedule `count` timers in pipelined batches (duban: `TimerStore.schedule_many`;
  raw: ZADD of 10,000 members per command), due times spread evenly over a window
  of `window_s` seconds that starts in the future;
* fire them as they fall due: one loop, claiming up to 500 at a time (the engine's
  `timer_batch`), sleeping the engine's idle poll when nothing is due. duban runs the
  engine's own `TimerLoop` with a stand-in engine whose "fire" records the lag and
  removes the fired timers in one ZREM (in the engine, the batch commit moves or
  removes them); the raw loop is ZRANGEBYSCORE … LIMIT 0 500 then ZREM.
* lag = when the fire action starts (right after the claim returns) − the due time.
  Both loops read a clock shifted forward so the window starts right after scheduling
  ends (the stores take `now` as an argument; nothing waits).
* then a backlog run: the same count, every timer already due, drained as fast as the
  loop goes: the fire capacity.

Memory: MEMORY USAGE of the sorted set (exact: SAMPLES 0) / count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.engine.timers import TimerLoop
from services.settings import Settings
from services.store.timers import RedisTimerStore, from_ms
from tests.perf.common import percentile, rounded

BATCH = Settings.model_fields["timer_batch"].default
IDLE_POLL_S = Settings.model_fields["timer_idle_poll_s"].default
LEASE_S = Settings.model_fields["timer_lease_s"].default


@dataclass
class TimerRun:
    """What one system did with `count` timers."""

    count: int
    schedule_per_s: float = 0.0
    fired: int = 0
    fire_seconds: float = 0.0
    lags: array | None = None  # seconds, one per fired timer
    bytes_per_timer: float | None = None

    @property
    def fire_per_s(self) -> float | None:
        """Timers fired per second, from the start of firing to the last fire."""
        return self.fired / self.fire_seconds if self.fire_seconds else None

    def lag(self, p: float) -> float | None:
        """The p-th percentile of the fire lag, seconds."""
        return percentile(self.lags, p) if self.lags else None

    def summary(self) -> dict[str, float | int | None]:
        """The run's figures, for bench-results.json."""
        return {
            "count": self.count,
            "schedule_per_s": rounded(self.schedule_per_s),
            "fired": self.fired,
            "fire_per_s": rounded(self.fire_per_s),
            "lag_p50_s": rounded(self.lag(50), 4),
            "lag_p99_s": rounded(self.lag(99), 4),
            "lag_max_s": rounded(self.lag(100), 4),
            "bytes_per_timer": rounded(self.bytes_per_timer),
        }


class ShiftedClock:
    """Real time moved forward by a fixed offset."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s

    def now(self) -> datetime:
        """Now, shifted."""
        return datetime.fromtimestamp(time.time() + self.offset_s, UTC)

    def seconds(self) -> float:
        """Now, shifted, as epoch seconds."""
        return time.time() + self.offset_s


def due_times(count: int, start_s: float, window_s: float) -> array:
    """Due times (epoch seconds) spread evenly over the window, member i due at index i."""
    step = window_s / count
    return array("d", (start_s + i * step for i in range(count)))


def member(i: int) -> str:
    """Timer member of hazard i, as the engine names them."""
    return f"hazard:H{i}"


# -- duban: TimerStore + the engine's TimerLoop --------------------------------------------


class CheapFire:
    """Stands in for the engine behind TimerLoop: note each timer's lag, remove them."""

    def __init__(self, redis: Redis, key: str, due: array, clock: ShiftedClock) -> None:
        self.redis = redis
        self.key = key
        self.due = due
        self.clock = clock
        self.lags = array("d")

    async def fire(self, members: Sequence[str], due: object = None) -> None:
        """Fire ("hazard:H<i>"): record lag, then the ZREM the engine's batch commit
        stands for (TimerLoop calls this as it calls Engine.fire)."""
        if not members:
            return
        now = self.clock.seconds()
        self.lags.extend(now - self.due[int(m.removeprefix("hazard:H"))] for m in members)
        await self.redis.zrem(self.key, *members)


async def duban_run(redis: Redis, key: str, count: int, window_s: float) -> TimerRun:
    """Schedule `count` timers with TimerStore, fire them with TimerLoop."""
    store = RedisTimerStore(redis, key)
    run = TimerRun(count)
    start = time.time() + 3600  # scheduled in the future; the fire clock is shifted there
    due = due_times(count, start, window_s)
    run.schedule_per_s = await timed_rate(
        count,
        lambda: store.schedule_many({member(i): from_ms(due[i] * 1000) for i in range(count)}),
    )
    run.bytes_per_timer = await bytes_per_member(redis, key, count)
    clock = ShiftedClock(start - time.time())
    fire = CheapFire(redis, key, due, clock)
    loop = TimerLoop(fire, store, clock, Settings())  # type: ignore[arg-type]
    run.fire_seconds = await fire_all(loop.run, loop.stop, lambda: loop.fired, count, window_s)
    run.fired, run.lags = loop.fired, fire.lags
    await redis.delete(key)
    return run


# -- raw redis-py sorted set: "the limit" ------------------------------------------------


async def raw_run(redis: Redis, key: str, count: int, window_s: float) -> TimerRun:
    """Pipelined ZADD, then ZRANGEBYSCORE + ZREM in batches: no lease, no wrapping."""
    run = TimerRun(count)
    start = time.time() + 3600
    due = due_times(count, start, window_s)
    run.schedule_per_s = await timed_rate(count, lambda: raw_schedule(redis, key, due))
    run.bytes_per_timer = await bytes_per_member(redis, key, count)
    clock = ShiftedClock(start - time.time())
    lags = array("d")
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            now = clock.seconds()
            rows = await redis.zrangebyscore(key, "-inf", now * 1000, 0, BATCH, withscores=True)
            if not rows:
                await wait_or_stop(stop, IDLE_POLL_S)
                continue
            fired_at = clock.seconds()
            lags.extend(fired_at - score / 1000 for _, score in rows)
            await redis.zrem(key, *(m for m, _ in rows))

    run.fire_seconds = await fire_all(loop, stop.set, lambda: len(lags), count, window_s)
    run.fired, run.lags = len(lags), lags
    await redis.delete(key)
    return run


async def raw_schedule(redis: Redis, key: str, due: array, chunk: int = 10_000) -> None:
    """ZADD `chunk` members per command, all commands in one pipeline."""
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(due), chunk):
            stop = min(start + chunk, len(due))
            pipe.zadd(key, {member(i): int(due[i] * 1000) for i in range(start, stop)})
        await pipe.execute()


# -- shared ------------------------------------------------------------------------------


async def timed_rate(count: int, work: Callable[[], Awaitable[object]]) -> float:
    """Items per second of one awaited piece of work."""
    started = time.perf_counter()
    await work()
    return count / (time.perf_counter() - started)


async def bytes_per_member(redis: Redis, key: str, count: int) -> float | None:
    """Exact size of the sorted set (MEMORY USAGE … SAMPLES 0) per member."""
    used = await redis.memory_usage(key, samples=0)
    return used / count if used else None


async def fire_all(
    run: Callable[[], Awaitable[None]],
    stop: Callable[[], None],
    fired: Callable[[], int],
    count: int,
    window_s: float,
) -> float:
    """Run a fire loop until `count` fired (or a time limit); seconds to the last fire."""
    started = time.perf_counter()
    task = asyncio.create_task(run())
    limit = started + window_s + 120
    seen, last = 0, started
    while seen < count and time.perf_counter() < limit and not task.done():
        await asyncio.sleep(0.01)
        if fired() > seen:
            seen, last = fired(), time.perf_counter()
    stop()
    await task
    return last - started


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, or return early when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
