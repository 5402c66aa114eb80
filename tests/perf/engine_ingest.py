"""Engine ingest: hazard events/s through consume → state → timers → commit, on the real stack.

The events are produced to a fresh topic first; then the engine (the FastStream app of
`create_engine`, fake clock at a moment before every deadline, timer loop off) drains
them: once as one replica in the bench process, once as several replica processes
(tests/perf/engine_replica.py), each time on fresh topics and a fresh database.
Progress is the consumer group's committed offsets, sampled every 0.1 s: an offset is
committed only after its batch's notices were published and its state and timers
committed to Redis, so a committed event is a fully processed one. The rate is taken
from the moment every replica is in the group to the last commit, leaving out
start-up, group join and rebalances.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from contracts.registry import parse_event
from services.engine.app import create_engine
from services.inbound import route
from services.runner import running
from services.settings import Settings
from services.store.entities import RedisEntityStore
from services.store.keys import TIMERS_KEY, unit_key
from services.store.ports import EntityStore, Write
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
    replica_processes,
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
    timeout_s: float = 180,
    profile: bool = False,
    replicas: tuple[int, ...] = (1, 2),
) -> Section:
    """Produce `events`, then time one engine draining them (and again with more replicas)."""
    section = Section("Engine ingest (Kafka → engine → Redis)")
    mix = build_mix(events, hazards, units)
    section.details = {"events": events, "mix": mix.counts, "hazards": hazards, "units": units}
    for n in replicas:
        rate, details = await ingest(stack, mix, n, timeout_s, profile and n == 1)
        section.details[f"replicas_{n}"] = details
        section.figures.append(
            Figure(
                f"engine ingest, {n} replica{'s' if n > 1 else ''}",
                rate,
                "events/s",
                "committed offsets of the engine group sampled every 0.1 s, first to last "
                "commit; events pre-produced; "
                + ("the engine in the bench process" if n == 1 else f"{n} engine processes"),
                target=TARGET,
                note=_note(details, rate, timeout_s),
            )
        )
    return section


def _note(details: dict[str, object], rate: float | None, timeout_s: float) -> str:
    if not details["drained"]:
        return f"did not drain in {timeout_s:.0f} s"
    if rate is None:
        return "too few events left once every replica had joined: use more events"
    return ""


async def ingest(
    stack: LocalStack, mix: Mix, replicas: int, timeout_s: float, profile: bool
) -> tuple[float | None, dict[str, object]]:
    """Fresh topics and database, produce the mix, drain it; (events/s, details)."""
    events = len(mix.hazard_events)
    tag = unique_tag()
    settings = bench_settings(stack, tag, REDIS_DB)
    async with fresh_stack(settings) as redis:
        await seed_units(RedisEntityStore(redis), mix)
        produced_rate = await produce(
            settings.kafka_bootstrap, settings.topics.hazard_events, mix.hazard_events
        )
        engines = in_process(settings, profile) if replicas == 1 else processes(tag, replicas)
        progress, cores, done = await drain(settings, engines, replicas, events, timeout_s)
        async with OffsetWatch(settings.kafka_bootstrap) as watch:
            notices = await watch.end(settings.topics.notice_requested)
            dead = await watch.end(settings.topics.dlq_events)
        members = await redis.zrange(TIMERS_KEY, 0, -1)
        stored = len(await redis.keys("duban:hazard:*"))
    rate, seconds, counted = progress.steady_rate()
    return rounded(rate), {
        "batch_max": settings.engine_batch_max,
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


async def seed_units(store: EntityStore, mix: Mix) -> None:
    """Store the units' registry data as the engine would from unit.upserted."""
    infos = [route(parse_event(json.dumps(u))).unit for u in mix.units]
    writes = [Write(unit_key(i.unit_id), 0, i.model_dump_json()) for i in infos if i]
    await store.commit(writes)


@contextlib.asynccontextmanager
async def in_process(settings: Settings, profile: bool) -> AsyncIterator[None]:
    """One engine in this process (so --profile can see it)."""
    engine = create_engine(settings, clock=FakeClock(CLOCK_AT), run_timers=False)
    async with running(engine.app), profiled("engine_ingest", profile):
        yield


@contextlib.asynccontextmanager
async def processes(tag: str, count: int) -> AsyncIterator[None]:
    """`count` engine replicas, one process each (tests/perf/engine_replica.py)."""
    async with replica_processes("tests.perf.engine_replica", [tag, str(REDIS_DB)], count):
        yield


async def drain(
    settings: Settings,
    engines: contextlib.AbstractAsyncContextManager[None],
    replicas: int,
    events: int,
    timeout_s: float,
) -> tuple[Progress, dict[str, float], bool]:
    """Run the engines until their group committed every event; (progress, cores, drained).

    Progress is sampled from the moment every replica is in the group (Stable), so the
    start-up rebalances of several replicas are left out of the rate.
    """
    progress = Progress()
    watch = OffsetWatch(settings.kafka_bootstrap)
    async with watch, engines:
        await poll_until(
            lambda: watch.stable_members(settings.engine_group), replicas, Progress(), 60
        )
        meter = CpuMeter()
        done = await poll_until(
            lambda: watch.committed(settings.engine_group), events, progress, timeout_s
        )
        cores = meter.cores()
    return progress, cores, done
