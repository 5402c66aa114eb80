"""Timers wait for the inbound events of their own subject: a reminder never overtakes the
closure that sits unapplied in a stalled partition, other hazards' timers fire on time,
and a partition nobody applies holds timers only so long."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from contracts.topics import Topics
from services.engine.timers import TimerLoop
from services.engine.watermark import Hold, Watermark, holds, member_of
from services.metrics import EngineMetrics
from services.offsets import Waiting
from services.settings import Settings
from services.store.memory import MemoryTimerStore
from services.store.timers import to_ms
from tests.fakes import FakeClock
from tests.stack import wait_until_async
from tests.unit.test_metrics import DueTimers, Firing

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
TOPICS = Topics()


class Partitions:
    """Two inbound partitions of hazard events: records appended (with their keys and
    timestamps), and how far the group applied them."""

    def __init__(self) -> None:
        self.records: dict[str, list[Waiting]] = {"p0": [], "p1": []}
        self.applied = {"p0": 0, "p1": 0}
        self.reads = 0

    def append(self, tp: str, key: bytes | None, at: datetime, topic: str = "") -> None:
        self.records[tp].append(Waiting(topic or TOPICS.hazard_events, key, to_ms(at)))

    async def read(self) -> tuple[dict[str, int], dict[str, int]]:
        self.reads += 1
        return dict(self.applied), {tp: len(r) for tp, r in self.records.items()}

    async def waiting(
        self, behind: Mapping[Hashable, tuple[int, int]], cap: int
    ) -> dict[Hashable, list[Waiting]]:
        return {tp: self.records[str(tp)][start:end][:cap] for tp, (start, end) in behind.items()}


class Real:
    """Real time for the gate, moved by hand."""

    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def gate(
    max_hold_s: float = 300.0, cap: int = 1000
) -> tuple[Watermark, Partitions, FakeClock, Real]:
    """A gate on a fake clock and fake real time."""
    partitions, clock, real = Partitions(), FakeClock(T0), Real()
    mark = Watermark(
        partitions.read,
        partitions.waiting,
        clock,
        TOPICS,
        max_hold_s=max_hold_s,
        cap=cap,
        monotonic=real,
    )
    return mark, partitions, clock, real


def later(clock: FakeClock, real: Real, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))
    real.s += seconds


async def test_caught_up_nothing_waits() -> None:
    mark, partitions, clock, real = gate()
    assert await mark.hold() == Hold(T0)
    partitions.append("p0", b"H1", T0)
    partitions.applied["p0"] = 1  # applied as it came
    later(clock, real, 1)
    assert await mark.hold() == Hold(T0 + timedelta(seconds=1))
    assert mark.lag_s() == 0


async def test_an_unapplied_event_holds_only_its_own_subject_from_when_it_came() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p1", b"H2", T0 + timedelta(seconds=10))  # a closure; p1 is frozen
    later(clock, real, 60)
    hold = await mark.hold()
    assert hold == Hold(clock.now(), {"hazard:H2": T0 + timedelta(seconds=10)})
    assert mark.lag_s() == 50 and mark.waiting_subjects() == 1
    partitions.applied["p1"] = 1  # the consumer is back and applies it
    later(clock, real, 1)
    assert await mark.hold() == Hold(clock.now())


async def test_a_subjects_earliest_unapplied_event_counts() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p0", b"H1", T0 + timedelta(seconds=5))
    partitions.append("p0", b"H1", T0 + timedelta(seconds=2))  # out of order on purpose
    partitions.append("p0", b"H3", T0 + timedelta(seconds=7))
    later(clock, real, 20)
    hold = await mark.hold()
    assert hold.members == {
        "hazard:H1": T0 + timedelta(seconds=2),
        "hazard:H3": T0 + timedelta(seconds=7),
    }


async def test_a_record_of_no_hazard_or_task_holds_every_timer_after_it() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p0", None, T0 + timedelta(seconds=3))
    later(clock, real, 20)
    assert await mark.hold() == Hold(T0 + timedelta(seconds=3))


async def test_a_partition_further_behind_than_the_cap_holds_every_timer_after_what_was_read() -> (
    None
):
    mark, partitions, clock, real = gate(cap=2)
    for second in (1, 2, 3):
        partitions.append("p0", f"H{second}".encode(), T0 + timedelta(seconds=second))
    later(clock, real, 20)
    hold = await mark.hold()
    assert hold.upto == T0 + timedelta(seconds=2)
    assert set(hold.members) == {"hazard:H1", "hazard:H2"}


def test_keys_name_hazards_tasks_and_the_subjects_of_acknowledged_notices() -> None:
    def of(topic: str, key: bytes | None) -> str | None:
        return member_of(Waiting(topic, key, 0), TOPICS)

    assert of(TOPICS.hazard_events, b"H1") == "hazard:H1"
    assert of(TOPICS.task_events, b"T1") == "task:T1"
    assert of(TOPICS.notice_acks, b"hazard:H1:escalation:letter:20260901T010000Z") == "hazard:H1"
    assert of(TOPICS.notice_acks, b"digest:weekly:2026-W36") is None
    assert of(TOPICS.duty_events, b"D1") is None
    assert of(TOPICS.hazard_events, None) is None
    assert holds({}, 10, TOPICS) == (None, {})


async def test_offsets_are_read_at_most_every_half_second_of_real_time() -> None:
    mark, partitions, _clock, real = gate()
    await mark.hold()
    await mark.hold()
    assert partitions.reads == 1
    real.s += 0.5  # the fake clock stands still; real time moves on
    await mark.hold()
    assert partitions.reads == 2


async def test_a_partition_nobody_applies_holds_timers_only_max_hold_s() -> None:
    mark, partitions, clock, real = gate(max_hold_s=120)
    partitions.append("p0", b"H1", T0)
    assert (await mark.hold()).members == {"hazard:H1": T0}
    later(clock, real, 119)
    assert (await mark.hold()).members == {"hazard:H1": T0}
    later(clock, real, 2)
    assert await mark.hold() == Hold(clock.now())  # held long enough: timers go
    partitions.applied["p0"] = 1
    later(clock, real, 1)
    assert await mark.hold() == Hold(clock.now())


async def test_the_timer_loop_holds_only_the_timer_of_the_subject_with_an_unapplied_event() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p1", b"H2", T0 + timedelta(seconds=10))  # the closure of H2
    later(clock, real, 60)
    due = {
        "hazard:H1": T0 + timedelta(seconds=30),  # another hazard's: fires on time
        "hazard:H2": T0 + timedelta(seconds=30),  # due after H2's closure came: waits
        "hazard:H3": T0 + timedelta(seconds=5),
    }
    timers, metrics, fired = DueTimers(dict(due)), EngineMetrics(), Firing()
    loop = TimerLoop(fired, timers, clock, Settings(), metrics, watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 2
    assert sorted(fired.fired) == ["hazard:H1", "hazard:H3"] and list(timers.due) == ["hazard:H2"]
    assert metrics.registry.get_sample_value("duban_engine_timer_watermark_lag_seconds") == 50
    partitions.applied["p1"] = 1  # applied: H2's timer may fire now
    real.s += 0.5
    assert await loop.fire_once() == 1
    assert fired.fired[-1] == "hazard:H2"


async def test_a_timer_due_before_its_subjects_event_came_fires() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p0", b"H1", T0 + timedelta(seconds=10))
    later(clock, real, 60)
    timers, fired = DueTimers({"hazard:H1": T0 + timedelta(seconds=9)}), Firing()
    loop = TimerLoop(fired, timers, clock, Settings(), watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 1 and fired.fired == ["hazard:H1"]


async def test_a_timer_fired_behind_the_clock_is_leased_from_the_clock() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p0", None, T0)  # a record of no subject: every later timer waits
    later(clock, real, 60)
    timers = MemoryTimerStore()
    await timers.schedule("hazard:H1", T0 - timedelta(seconds=1))
    settings = Settings()
    loop = TimerLoop(Firing(), timers, clock, settings, watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 1
    assert timers["hazard:H1"] == clock.now() + timedelta(seconds=settings.timer_lease_s)


async def test_while_offsets_cannot_be_read_the_last_view_stands_and_timers_fire() -> None:
    mark, partitions, clock, real = gate()
    partitions.append("p0", b"H2", T0)
    later(clock, real, 60)
    assert (await mark.hold()).members == {"hazard:H2": T0}

    async def down() -> tuple[dict[str, int], dict[str, int]]:
        raise ConnectionError("Kafka unreachable")

    mark.read = down  # the broker is killed
    real.s += 0.5
    timers, fired = DueTimers({"hazard:H1": T0, "hazard:H2": T0 + timedelta(seconds=1)}), Firing()
    loop = TimerLoop(fired, timers, clock, Settings(), watermark=mark)  # type: ignore[arg-type]
    assert await loop.fire_once() == 1 and fired.fired == ["hazard:H1"]


async def test_offsets_unread_are_a_warning_once_a_streak_and_a_line_when_read_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mark, partitions, _clock, real = gate()
    read = partitions.read

    async def down() -> tuple[dict[str, int], dict[str, int]]:
        raise ConnectionError("Kafka unreachable")

    mark.read = down
    with caplog.at_level(logging.INFO, logger="duban.timers"):
        for _ in range(3):  # three reads, half a second apart
            await mark.hold()
            real.s += 0.5
        mark.read = read
        await mark.hold()
    found = [
        (r.levelname, r.getMessage().split(";")[0], r.exc_info is not None) for r in caplog.records
    ]
    assert found == [
        ("WARNING", "timer gate: reading offsets (the last view stands) failed", True),
        (
            "WARNING",
            "timer gate: reading offsets (the last view stands) works again after 3 failed"
            " attempts in 2 s",
            False,
        ),
    ]


async def test_a_slow_read_does_not_hold_the_timer_loop() -> None:
    mark, partitions, _clock, real = gate()
    mark.wait_s = 0.0
    assert await mark.hold() == Hold(T0)  # the first read, done at once
    answered = asyncio.Event()
    fast = partitions.read

    async def slow() -> tuple[dict[str, int], dict[str, int]]:
        await answered.wait()
        return await fast()

    mark.read = slow
    partitions.append("p0", b"H1", T0)
    real.s += 0.5
    assert await mark.hold() == Hold(T0)  # the read under way: the last view stands
    answered.set()

    async def read_through() -> bool:
        return (await mark.hold()).members == {"hazard:H1": T0}

    await wait_until_async(read_through, timeout_s=5, what="the read under way to end")
    await mark.aclose()


async def test_a_view_half_read_never_lets_a_held_timer_go() -> None:
    """The offsets are read, then the broker dies while the records behind are read: the
    last whole view stands (it held H2), not one with the offsets but no records."""
    mark, partitions, clock, real = gate()
    partitions.append("p1", b"H2", T0)
    later(clock, real, 60)
    assert (await mark.hold()).members == {"hazard:H2": T0}

    async def dies(behind: Mapping[Hashable, tuple[int, int]], cap: int) -> dict:
        raise ConnectionError("Kafka unreachable")

    mark.waiting = dies
    partitions.append("p1", b"H3", T0 + timedelta(seconds=1))
    real.s += 0.5
    assert (await mark.hold()).members == {"hazard:H2": T0}
