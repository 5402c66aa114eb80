"""Timers wait for the inbound events before them: a reminder never overtakes the closure
that sits unapplied in a stalled partition; a partition nobody applies holds timers only
so long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.engine.timers import TimerLoop
from services.engine.watermark import Watermark
from services.metrics import EngineMetrics
from services.settings import Settings
from services.store.memory import MemoryTimerStore
from tests.fakes import FakeClock
from tests.unit.test_metrics import DueTimers, Firing

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


class Partitions:
    """Two inbound partitions: records appended, and how far the group applied them."""

    def __init__(self) -> None:
        self.ends = {"p0": 0, "p1": 0}
        self.applied = {"p0": 0, "p1": 0}
        self.reads = 0

    async def read(self) -> tuple[dict[str, int], dict[str, int]]:
        self.reads += 1
        return dict(self.applied), dict(self.ends)


class Real:
    """Real time for the gate, moved by hand."""

    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def gate(max_hold_s: float = 300.0) -> tuple[Watermark, Partitions, FakeClock, Real]:
    """A gate on a fake clock and fake real time."""
    partitions, clock, real = Partitions(), FakeClock(T0), Real()
    mark = Watermark(partitions.read, clock, max_hold_s=max_hold_s, monotonic=real)
    return mark, partitions, clock, real


def later(clock: FakeClock, real: Real, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))
    real.s += seconds


async def test_caught_up_the_watermark_is_the_clock() -> None:
    mark, partitions, clock, real = gate()
    assert await mark.upto() == T0
    partitions.ends["p0"] = partitions.applied["p0"] = 5  # applied as they come
    later(clock, real, 1)
    assert await mark.upto() == T0 + timedelta(seconds=1)
    assert mark.lag_s() == 0


async def test_a_stalled_partition_holds_the_watermark_where_its_backlog_began() -> None:
    mark, partitions, clock, real = gate()
    assert await mark.upto() == T0
    later(clock, real, 10)
    assert await mark.upto() == T0 + timedelta(seconds=10)  # read just before...
    real.s += 0.5
    partitions.ends["p1"] = 3  # ...a closure arrives; p1's consumer is frozen
    assert await mark.upto() == T0 + timedelta(seconds=10)
    later(clock, real, 50)
    assert await mark.upto() == T0 + timedelta(seconds=10)  # and no further
    assert mark.lag_s() == 50
    partitions.applied["p1"] = 3  # the consumer is back and applies it
    later(clock, real, 1)
    assert await mark.upto() == T0 + timedelta(seconds=61)


async def test_the_watermark_moves_to_the_last_sample_reached_not_past_it() -> None:
    mark, partitions, clock, real = gate()
    await mark.upto()
    for end in (2, 4, 6):  # appended at T0+1, +2, +3 while applying lags behind
        later(clock, real, 1)
        partitions.ends["p0"] = end
        await mark.upto()
    partitions.applied["p0"] = 4  # applied through the records of T0+2, not T0+3's
    later(clock, real, 1)
    assert await mark.upto() == T0 + timedelta(seconds=2)


async def test_offsets_are_read_at_most_every_half_second_of_real_time() -> None:
    mark, partitions, _clock, real = gate()
    await mark.upto()
    await mark.upto()
    assert partitions.reads == 1
    real.s += 0.5  # the fake clock stands still; real time moves on
    await mark.upto()
    assert partitions.reads == 2


async def test_a_partition_nobody_applies_holds_timers_only_max_hold_s() -> None:
    mark, partitions, clock, real = gate(max_hold_s=120)
    partitions.ends["p0"] = 1  # there before the first read: nothing reached yet
    assert await mark.upto() is None
    later(clock, real, 119)
    assert await mark.upto() is None
    later(clock, real, 2)
    assert await mark.upto() == clock.now()  # held long enough: timers go
    partitions.applied["p0"] = 1
    later(clock, real, 1)
    assert await mark.upto() == clock.now()


async def test_the_timer_loop_fires_only_timers_due_up_to_the_watermark() -> None:
    mark, partitions, clock, real = gate()
    await mark.upto()
    later(clock, real, 10)
    await mark.upto()
    real.s += 0.5
    partitions.ends["p1"] = 1  # the closure of H2, unapplied
    await mark.upto()  # the watermark stays at T0+10
    later(clock, real, 60)
    due = {"hazard:H1": T0 + timedelta(seconds=5), "hazard:H2": T0 + timedelta(seconds=30)}
    timers, metrics, fired = DueTimers(dict(due)), EngineMetrics(), Firing()
    loop = TimerLoop(fired, timers, clock, Settings(), metrics, watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 1
    assert fired.fired == ["hazard:H1"] and list(timers.due) == ["hazard:H2"]
    assert metrics.registry.get_sample_value("duban_engine_timer_watermark_lag_seconds") == 60
    partitions.applied["p1"] = 1  # applied: H2's timer may fire now
    real.s += 0.5
    assert await loop.fire_once() == 1
    assert fired.fired == ["hazard:H1", "hazard:H2"]


async def test_no_timer_fires_before_any_moment_is_reached() -> None:
    mark, partitions, clock, _real = gate()
    partitions.ends["p0"] = 1
    timers, fired = DueTimers({"hazard:H1": T0 - timedelta(seconds=1)}), Firing()
    loop = TimerLoop(fired, timers, clock, Settings(), watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 0 and fired.fired == []


async def test_a_timer_fired_behind_the_clock_is_leased_from_the_clock() -> None:
    mark, partitions, clock, real = gate()
    await mark.upto()
    real.s += 0.5
    partitions.ends["p0"] = 1  # unapplied: the watermark stays at T0
    later(clock, real, 60)
    timers = MemoryTimerStore()
    await timers.schedule("hazard:H1", T0 - timedelta(seconds=1))
    settings = Settings()
    loop = TimerLoop(Firing(), timers, clock, settings, watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 1
    assert timers["hazard:H1"] == clock.now() + timedelta(seconds=settings.timer_lease_s)
