"""The timer gate on the real stack: a record on an inbound topic that the engine group has
not committed holds back the Redis timers due after it arrived; once the group commits
it, they fire."""

from __future__ import annotations

from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from services.engine.timers import TimerLoop
from services.engine.watermark import Watermark
from services.kafka import ensure_topics
from services.offsets import GroupOffsets
from services.settings import Settings
from services.store.timers import RedisTimerStore
from tests.fakes import FakeClock
from tests.unit.test_metrics import Firing


async def _commit_all(settings: Settings, topic: str) -> None:
    """What the engine group does once it applied the topic's records."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.engine_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: end for tp, end in ends.items() if end})
    finally:
        await consumer.stop()


async def test_a_record_the_engine_group_has_not_applied_holds_later_timers(
    settings: Settings, redis: Redis, clock: FakeClock
) -> None:
    topics = settings.topics
    await ensure_topics(settings.kafka_bootstrap, topics.inbound(), settings.topic_partitions)
    offsets = GroupOffsets(settings.kafka_bootstrap, settings.engine_group, topics.inbound())
    real = [0.0]
    mark = Watermark(offsets.read, clock, monotonic=lambda: real[0])
    t0 = clock.now()
    timers = RedisTimerStore(redis)
    fired = Firing()
    loop = TimerLoop(fired, timers, clock, settings, watermark=mark)  # type: ignore[arg-type]
    try:
        assert await mark.upto() == t0  # nothing on the topics: caught up
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:  # a closure arrives; no engine applies it
            await producer.send_and_wait(topics.hazard_events, b"{}", key=b"H2")
        finally:
            await producer.stop()
        await timers.schedule("hazard:H1", t0 - timedelta(seconds=1))
        await timers.schedule("hazard:H2", t0 + timedelta(seconds=30))
        clock.advance(timedelta(minutes=1))
        real[0] += 1
        assert await loop.fire_once() == 1  # H1 was due before the closure arrived
        assert fired.fired == ["hazard:H1"]
        real[0] += 1
        assert await loop.fire_once() == 0  # H2 waits for the closure to be applied
        await _commit_all(settings, topics.hazard_events)
        real[0] += 1
        assert await loop.fire_once() == 1
        assert fired.fired == ["hazard:H1", "hazard:H2"]
    finally:
        await offsets.aclose()
