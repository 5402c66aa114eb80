"""Engine ingest: hazard events/s through consume → state → timers → commit, on the real stack.

The events are produced to a fresh topic first; then one engine (the FastStream app of
`create_engine`, fake clock at a moment before every deadline, timer loop off) drains
them. Progress is the consumer group's committed offsets, sampled every 0.1 s: an
offset is committed only after its batch's notices were published and its state and
timers committed to Redis, so a committed event is a fully processed one. The rate
is taken from the first commit to the last, leaving out start-up and group join.
"""

from __future__ import annotations

import json

from contracts.registry import parse_event
from services.engine.app import create_engine
from services.inbound import route
from services.runner import running
from services.settings import Settings
from services.store.entities import TIMERS_KEY, EntityStore, Write, unit_key
from tests.fakes import FakeClock
from tests.perf.common import (
    CpuMeter,
    Figure,
    OffsetWatch,
    Progress,
    Section,
    bench_settings,
    fresh_stack,
    poll_until,
    produce,
    profiled,
    rounded,
    unique_tag,
)
from tests.perf.events import CLOCK_AT, Mix, build_mix
from tests.stack import LocalStack

REDIS_DB = 2
TARGET = 10_000.0


async def run(
    stack: LocalStack,
    events: int = 150_000,
    hazards: int = 20_000,
    units: int = 200,
    timeout_s: float = 240,
    profile: bool = False,
) -> Section:
    """Produce `events`, then time one engine draining them."""
    section = Section("Engine ingest (Kafka → engine → Redis, one process)")
    mix = build_mix(events, hazards, units)
    settings = bench_settings(stack, unique_tag(), REDIS_DB)
    async with fresh_stack(settings) as redis:
        await seed_units(EntityStore(redis), mix)
        produced_rate = await produce(
            settings.kafka_bootstrap, settings.topics.hazard_events, mix.hazard_events
        )
        progress, cores, done = await drain(settings, events, timeout_s, profile)
        async with OffsetWatch(settings.kafka_bootstrap) as watch:
            notices = await watch.end(settings.topics.notice_requested)
            dead = await watch.end(settings.topics.dlq_events)
        members = await redis.zrange(TIMERS_KEY, 0, -1)
        stored = len(await redis.keys("duban:hazard:*"))
    rate, seconds, counted = progress.steady_rate()
    section.details = {
        "events": events,
        "mix": mix.counts,
        "hazards": hazards,
        "units": units,
        "batch_max": settings.batch_max,
        "produce_rate_msgs_per_s": rounded(produced_rate),
        "drained": done,
        "measured_events": counted,
        "measured_seconds": rounded(seconds, 2),
        "cores_busy_while_draining": cores,
        "notice_requested_published": notices,
        "dead_lettered": dead,
        "pending_hazard_timers": sum(m.startswith(b"hazard:") for m in members),
        "hazards_stored": stored,
    }
    section.figures.append(
        Figure(
            "engine ingest",
            rounded(rate),
            "events/s",
            "committed offsets of the engine's group sampled every 0.1 s; "
            "rate from first to last commit; events pre-produced; one engine process",
            target=TARGET,
            note="" if done else f"did not drain in {timeout_s:.0f} s",
        )
    )
    return section


async def seed_units(store: EntityStore, mix: Mix) -> None:
    """Store the units' registry data as the engine would from unit.upserted."""
    infos = [route(parse_event(json.dumps(u))).unit for u in mix.units]
    writes = [Write(unit_key(i.unit_id), 0, i.model_dump_json()) for i in infos if i]
    await store.commit(writes)


async def drain(
    settings: Settings, events: int, timeout_s: float, profile: bool
) -> tuple[Progress, dict[str, float], bool]:
    """Run one engine until its group committed every event; (progress, cores, drained)."""
    engine = create_engine(settings, clock=FakeClock(CLOCK_AT), run_timers=False)
    progress = Progress()
    watch = OffsetWatch(settings.kafka_bootstrap)
    async with watch, running(engine.app), profiled("engine_ingest", profile):
        meter = CpuMeter()
        done = await poll_until(
            lambda: watch.committed(settings.engine_group), events, progress, timeout_s
        )
        cores = meter.cores()
    return progress, cores, done
