"""Timers through the whole engine: the real TimerLoop → Engine.fire path.

`hazards` general hazards with the same deadline are reported through Kafka to one
engine (the FastStream app, fake clock before any timer is due). Once every report
is committed, the fake clock jumps to the moment their d1 reminders are due: the
engine's TimerLoop claims them (500 a time), re-reads each hazard, decides the
reminder, publishes its notice.requested, and commits the state with the next timer.
Fires/s = hazards / seconds from the jump until the loop fired them all.
"""

from __future__ import annotations

import asyncio
import time

from services.engine.app import create_engine
from services.runner import running
from services.store.entities import RedisEntityStore
from tests.fakes import FakeClock
from tests.perf.common import (
    OffsetWatch,
    Progress,
    bench_settings,
    fresh_stack,
    poll_until,
    produce,
    rounded,
    unique_tag,
)
from tests.perf.engine_ingest import seed_units
from tests.perf.events import CLOCK_AT, D1_DUE, build_mix, same_deadline_reports
from tests.stack import LocalStack

REDIS_DB = 3
UNITS = 200


async def engine_fire_run(stack: LocalStack, hazards: int, timeout_s: float = 120) -> dict:
    """Report `hazards` hazards, then fire their reminder timers; figures as a dict."""
    settings = bench_settings(stack, unique_tag(), REDIS_DB)
    clock = FakeClock(CLOCK_AT)
    async with fresh_stack(settings) as redis:
        await seed_units(RedisEntityStore(redis), build_mix(0, 0, UNITS))
        await produce(
            settings.kafka_bootstrap,
            settings.topics.hazard_events,
            same_deadline_reports(hazards, UNITS),
        )
        parts = create_engine(settings, clock=clock, run_timers=True)
        watch = OffsetWatch(settings.kafka_bootstrap)
        async with watch, running(parts.app):
            await poll_until(
                lambda: watch.committed(settings.engine_group), hazards, Progress(), timeout_s
            )
            assert parts.timer_loop is not None
            loop = parts.timer_loop
            before, notices_before = loop.fired, await watch.end(settings.topics.notice_requested)
            clock.set(D1_DUE)
            seconds = await _until(lambda: loop.fired - before >= hazards, timeout_s)
            fired = loop.fired - before
            notices = await watch.end(settings.topics.notice_requested) - notices_before
    return {
        "hazards": hazards,
        "fired": fired,
        "fire_per_s": rounded(fired / seconds if seconds else None),
        "notices_published": notices,
        "seconds": rounded(seconds, 2),
    }


async def _until(done, timeout_s: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `done()` holds (checked every 10 ms), at most `timeout_s`."""
    started = time.perf_counter()
    while not done() and time.perf_counter() - started < timeout_s:
        await asyncio.sleep(0.01)
    return time.perf_counter() - started
