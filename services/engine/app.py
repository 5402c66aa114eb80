"""The engine service: consumes inbound events, fires due timers, publishes notice.requested."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.clock import Clock, SystemClock
from services.config.load import load_config
from services.core.evaluate import Rules
from services.engine.observe import register_gauges
from services.engine.outboxsweep import OutboxSweep
from services.engine.timers import TimerLoop
from services.engine.watermark import Watermark
from services.engine.work import Engine
from services.guard import RecordGuard
from services.health import Health
from services.kafka import KafkaSink, ensure_topics, records_of, undecoded
from services.metrics import EngineMetrics, Metrics
from services.offsets import GroupOffsets
from services.settings import Settings, all_topics
from services.store.client import redis_client
from services.store.entities import RedisEntityStore
from services.store.replicas import ReplicaWait
from services.store.timers import RedisTimerStore

log = logging.getLogger("duban.engine")


@dataclass
class EngineParts:
    """What the engine app built, for tests and the runner to reach."""

    broker: KafkaBroker
    app: FastStream
    health: Health
    metrics: Metrics = field(default_factory=Metrics)  # the engine's registry
    engine: Engine | None = None
    timer_loop: TimerLoop | None = None
    outbox_sweep: OutboxSweep | None = None


def create_engine(
    settings: Settings,
    rules: Rules | None = None,
    clock: Clock | None = None,
    run_timers: bool = True,
    metrics: Metrics | None = None,
) -> EngineParts:
    """Build the engine app; clients open in its lifespan, nothing at import time."""
    rules = rules or load_config(settings.config_dir).rules()
    registry = metrics if metrics is not None else Metrics()
    counts = register_gauges(rules, EngineMetrics(registry))
    clock = clock or SystemClock()
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-engine", logger=log)
    parts = EngineParts(
        broker, FastStream(broker, logger=log), Health("engine", broker), metrics=registry
    )
    topics = settings.topics
    offsets = GroupOffsets(settings.kafka_bootstrap, settings.engine_group, topics.inbound())
    sink = KafkaSink(broker, topics, metrics=counts)  # declares its publishers (AsyncAPI)
    guard = RecordGuard(
        "engine", sink.dead_letter, parts.health.healthy, log, attempts=settings.poison_attempts
    )

    # NACK_ON_ERROR: offsets are committed only after the batch is fully handled; an error
    # (Redis or Kafka down) seeks back so the batch is redelivered. Invalid events never
    # raise: they go to the dead-letter topic inside the handler, and the guard
    # dead-letters whatever record else makes the batch fail while Kafka and Redis answer.
    @broker.subscriber(
        *topics.inbound(),
        group_id=settings.engine_group,
        batch=True,
        max_records=settings.engine_batch_max,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=undecoded,
    )
    async def on_events(message: KafkaMessage) -> None:
        engine = parts.engine
        assert engine is not None, "engine used before its lifespan started"
        with counts.batch_seconds.time():
            await guard.run(records_of(message.raw_message), engine.handle)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, all_topics(topics), settings.topic_partitions)
        redis = redis_client(settings)
        parts.health.redis = redis
        store = RedisEntityStore(redis, ReplicaWait.of(settings))
        parts.engine = Engine(rules, store, sink, clock, settings.input_limits, metrics=counts)
        parts.timer_loop = TimerLoop(
            parts.engine,
            RedisTimerStore(redis),
            clock,
            settings,
            metrics=counts,
            watermark=timer_gate(settings, offsets, clock),
        )
        parts.outbox_sweep = OutboxSweep(store, sink)
        try:
            yield
        finally:
            await offsets.aclose()
            await redis.aclose()

    app = FastStream(broker, lifespan=lifespan, logger=log)
    tasks: list[asyncio.Task[None]] = []

    # Timers publish through the broker, so they start only once it is connected.
    @app.after_startup
    async def start_timers() -> None:
        assert parts.engine is not None
        await parts.engine.duties.bootstrap()
        if run_timers and parts.timer_loop is not None:
            tasks.append(asyncio.create_task(parts.timer_loop.run(offsets.caught_up)))
        if parts.outbox_sweep is not None:
            tasks.append(asyncio.create_task(parts.outbox_sweep.run()))

    @app.on_shutdown
    async def stop_timers() -> None:
        if parts.timer_loop is not None:
            parts.timer_loop.stop()
        if parts.outbox_sweep is not None:
            parts.outbox_sweep.stop()
        await asyncio.gather(*tasks)

    parts.app = app
    return parts


def timer_gate(settings: Settings, offsets: GroupOffsets, clock: Clock) -> Watermark | None:
    """Timers wait for the inbound events before them (services/engine/watermark.py), at
    most DUBAN_TIMER_HOLD_MAX_S; None when that is 0."""
    if not settings.timer_hold_max_s:
        return None
    return Watermark(
        offsets.read,
        offsets.waiting,
        clock,
        settings.topics,
        max_hold_s=settings.timer_hold_max_s,
    )
