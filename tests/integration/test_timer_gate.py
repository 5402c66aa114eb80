"""The timer gate on the real stack: a record on an inbound topic that the engine group has
not committed holds back its own subject's Redis timer due after it arrived, and no other;
once the group commits it, that timer fires too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from services.engine.timers import TimerLoop
from services.engine.watermark import Watermark
from services.kafka import ensure_topics
from services.offsets import READ_TIMEOUT_S, GroupOffsets
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


async def _publish(settings: Settings, key: bytes) -> datetime:
    """A record on the hazard topic; when it reached Kafka."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(settings.topics.hazard_events, b"{}", key=key)
    finally:
        await producer.stop()
    return datetime.fromtimestamp(sent.timestamp / 1000, UTC)


async def test_an_unapplied_record_holds_only_its_own_subjects_later_timer(
    settings: Settings, redis: Redis
) -> None:
    topics = settings.topics
    await ensure_topics(settings.kafka_bootstrap, topics.inbound(), settings.topic_partitions)
    offsets = GroupOffsets(settings.kafka_bootstrap, settings.engine_group, topics.inbound())
    clock = FakeClock(datetime.now(UTC))  # record timestamps are the real clock's
    real = [0.0]
    mark = Watermark(
        offsets.read,
        offsets.waiting,
        clock,
        topics,
        wait_s=READ_TIMEOUT_S,  # each round sees its own read (the service waits less)
        monotonic=lambda: real[0],
    )
    timers = RedisTimerStore(redis)
    fired = Firing()
    loop = TimerLoop(fired, timers, clock, settings, watermark=mark)  # type: ignore[arg-type]
    try:
        assert (await mark.hold()).members == {}  # nothing on the topics: nothing waits
        came = await _publish(settings, b"H2")  # a closure of H2; no engine applies it
        await timers.schedule("hazard:H1", came + timedelta(seconds=30))
        await timers.schedule("hazard:H2", came + timedelta(seconds=30))
        await timers.schedule("hazard:H3", came - timedelta(seconds=1))
        clock.set(came + timedelta(minutes=1))
        real[0] += 1
        assert await loop.fire_once() == 2  # H1 is another hazard's, H3 was due before
        assert sorted(fired.fired) == ["hazard:H1", "hazard:H3"]
        assert (await mark.hold()).members == {"hazard:H2": came}
        real[0] += 1
        assert await loop.fire_once() == 0  # H2 waits for its closure to be applied
        await _commit_all(settings, topics.hazard_events)
        real[0] += 1
        assert await loop.fire_once() == 1
        assert fired.fired[-1] == "hazard:H2"
    finally:
        await offsets.aclose()
