"""Durable timers and the stores on the real stack: restarts, replicas and re-plans fire each
notice once; the Redis stores keep the contract their in-memory twins keep."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import AsyncExitStack
from datetime import date, datetime, timedelta

from redis.asyncio import Redis

from services.engine.app import create_engine
from services.runner import running
from services.settings import Settings
from services.store.entities import RedisEntityStore
from services.store.timers import RedisTimerStore, from_ms
from tests.fakes import FakeClock
from tests.helpers import at, hazard_event, reported, unit_upserted
from tests.integration.conftest import read_topic, wait_for
from tests.unit.test_simulate import check_entity_store, check_timer_store

HAZARDS = 40


def notices(records: list) -> Counter[tuple[str, int, str, str | None]]:
    """(notice id, occurrence, recipient, action) of every hazard notice.requested record
    (the listed departments' duties run beside them from the engine's start)."""
    counted: Counter[tuple[str, int, str, str | None]] = Counter()
    for record in records:
        data = json.loads(record.value)["data"]
        if not data["notice_id"].startswith("hazard:"):
            continue
        key = (
            data["notice_id"],
            data["occurrence"],
            data["recipient"]["person_id"],
            data["action"],
        )
        counted[key] += 1
    return counted


async def publish_hazards(publish, register_unit, settings: Settings, deadline: date) -> None:
    await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
    for i in range(HAZARDS):
        await publish(
            settings.topics.hazard_events,
            reported(f"H{i}", at("2026-09-01 09:00"), deadline, responsible=("S1",)),
        )


async def test_the_redis_entity_store_keeps_the_store_contract(redis: Redis) -> None:
    await check_entity_store(RedisEntityStore(redis), RedisTimerStore(redis))


async def test_the_redis_timer_store_keeps_the_timer_contract(redis: Redis) -> None:
    await check_timer_store(RedisTimerStore(redis))


async def test_engine_restarted_with_pending_timers_fires_each_once(
    settings: Settings, clock: FakeClock, redis: Redis, publish, register_unit
) -> None:
    timers = RedisTimerStore(redis)
    async with running(create_engine(settings, clock=clock).app):
        await publish_hazards(publish, register_unit, settings, date(2026, 9, 5))
        # 2 report notices per hazard, then every hazard waits on its d3 reminder timer.
        await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 2 * HAZARDS)
        await wait_for(lambda: _pending(timers, HAZARDS), what="a timer per hazard")
    clock.set(at("2026-09-02 09:00"))  # the d3 reminders are due while no engine runs
    async with running(create_engine(settings, clock=clock).app):
        expected = 2 * HAZARDS + HAZARDS
        records = await read_topic(
            settings.kafka_bootstrap, settings.topics.notice_requested, expected
        )
    counted = notices(records)
    reminders = {k: v for k, v in counted.items() if ":d3:" in k[0]}
    assert len(reminders) == HAZARDS
    assert set(reminders.values()) == {1}
    assert sum(counted.values()) == expected


async def test_two_engine_replicas_send_each_notice_once(
    settings: Settings, clock: FakeClock, redis: Redis, publish, register_unit
) -> None:
    async with AsyncExitStack() as replicas:
        for _ in range(2):
            await replicas.enter_async_context(running(create_engine(settings, clock=clock).app))
        await publish_hazards(publish, register_unit, settings, date(2026, 9, 5))
        await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 2 * HAZARDS)
        await wait_for(lambda: _pending(RedisTimerStore(redis), HAZARDS), what="timers")
        # The deadline is Saturday 09-05: its letter goes on Monday 09-07 at 09:00.
        for day in ("2026-09-02 09:00", "2026-09-04 09:00", "2026-09-07 09:00"):
            clock.set(at(day) + timedelta(seconds=1))
            await wait_for(
                lambda: _settled(RedisTimerStore(redis), clock, settings), what=f"fires at {day}"
            )
        # reports 2 + d3 1 + d1 2 (S1, principal R1) + letter 3 (S1, R1, department) and
        # the letter's post in the officials' work-chat group, per hazard
        expected = HAZARDS * (2 + 1 + 2 + 3 + 1)
        records = await read_topic(
            settings.kafka_bootstrap, settings.topics.notice_requested, expected
        )
    counted = notices(records)
    assert len(counted) == expected
    assert set(counted.values()) == {1}, "a notice was published by both replicas"


async def test_deadline_extended_while_a_timer_is_due_sends_nothing_for_the_old_deadline(
    settings: Settings, clock: FakeClock, redis: Redis, publish, register_unit
) -> None:
    timers = RedisTimerStore(redis)
    old_due, new_due = at("2026-09-02 09:00"), at("2026-10-23 09:00")  # d1 old, d7 new
    announced = at("2026-09-01 12:00")  # the deadline_changed notice, in office hours
    async with running(create_engine(settings, clock=clock).app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        await publish(
            settings.topics.hazard_events,
            reported("H1", at("2026-09-01 09:00"), date(2026, 9, 3), responsible=("S1",)),
        )
        await wait_for(lambda: _next_due_is(timers, old_due), what="the d1 timer")
        await publish(
            settings.topics.hazard_events,
            hazard_event(
                "hazard.updated",
                "H1",
                announced,
                deadline=date(2026, 10, 30),
                reason="延期",
            ),
        )
        await wait_for(lambda: _next_due_is(timers, announced), what="the re-planned timer")
        # A replica that claimed the old timer before the update and died: its lease ends
        # and the old due time is back in the set.
        await timers.schedule("hazard:H1", old_due)
        clock.set(at("2026-09-02 10:00"))
        await wait_for(lambda: _next_due_is(timers, new_due), what="the stale timer to fire")
        records = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 4)
    kinds = Counter(json.loads(r.value)["data"]["kind"] for r in records)
    # The change is announced to those told before; the old d1 reminder never goes out.
    assert kinds == {"report": 2, "deadline_changed": 2}


async def _next_due_is(timers: RedisTimerStore, moment: datetime) -> bool:
    return min((due for _, due in await _hazard_timers(timers)), default=None) == moment


async def _hazard_timers(timers: RedisTimerStore) -> list[tuple[str, datetime]]:
    """(member, due) of hazard timers; duty and digest timers live in the same set."""
    rows = await timers.redis.zrange(timers.key, 0, -1, withscores=True)
    return [(m.decode(), from_ms(score)) for m, score in rows if m.startswith(b"hazard:")]


async def _pending(timers: RedisTimerStore, count: int) -> bool:
    return len(await _hazard_timers(timers)) == count


async def _settled(timers: RedisTimerStore, clock: FakeClock, settings: Settings) -> bool:
    """Every due timer fired: none is due, and none is merely leased (lease = now + lease_s)."""
    due = min((due for _, due in await _hazard_timers(timers)), default=None)
    return due is None or due > clock.now() + timedelta(seconds=settings.timer_lease_s)


async def test_a_restarted_engine_applies_the_backlog_before_firing_timers(
    settings: Settings, clock: FakeClock, redis: Redis, publish, register_unit
) -> None:
    async with running(create_engine(settings, clock=clock).app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        await publish(
            settings.topics.hazard_events,
            reported("H1", at("2026-09-01 09:00"), date(2026, 9, 3), responsible=("S1",)),
        )
        await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 2)
    # While no engine runs, the d1 reminder for 09-03 falls due and the deadline is extended.
    clock.set(at("2026-09-02 10:00"))
    await publish(
        settings.topics.hazard_events,
        hazard_event(
            "hazard.updated",
            "H1",
            at("2026-09-02 08:00"),
            deadline=date(2026, 10, 30),
            reason="延期",
        ),
    )
    async with running(create_engine(settings, clock=clock).app):
        await wait_for(
            lambda: _next_due_is(RedisTimerStore(redis), at("2026-10-23 09:00")),
            what="the re-planned timer",
        )
        records = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 4)
    kinds = Counter(json.loads(r.value)["data"]["kind"] for r in records)
    # The change is announced; the old deadline's reminder never went out.
    assert kinds == {"report": 2, "deadline_changed": 2}
