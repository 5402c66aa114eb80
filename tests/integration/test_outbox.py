"""The engine's outbox on the real stack: Redis keeps a commit's notices only when the
commit succeeds, hands back those left past their age (taking them for as long again),
and the sweep publishes the very bytes to Kafka and clears them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from services.config.load import load_config
from services.core.noticeevent import Boxed, box
from services.engine.outboxsweep import OutboxSweep
from services.engine.work import Engine
from services.guard import Record
from services.kafka import KafkaSink, ensure_topics
from services.settings import Settings, all_topics
from services.store.entities import RedisEntityStore
from services.store.keys import OUTBOX_AT_KEY, OUTBOX_KEY, hazard_key
from services.store.memory import MemoryEntityStore, RecordingSink
from services.store.ports import Write
from tests.fakes import FakeClock
from tests.helpers import at, reported
from tests.integration.conftest import read_topic

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


async def report_boxes() -> list[Boxed]:
    """The report notices a major hazard's report decides, boxed as the engine keeps them."""
    sink = RecordingSink()
    engine = Engine(
        load_config(EXAMPLE).rules(), MemoryEntityStore(), sink, FakeClock(at("2026-09-01 10:00"))
    )
    event = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))
    await engine.handle([Record(json.dumps(event).encode(), "hazard.events", 0, 0)])
    assert sink.published
    return [box(n) for n in sink.published]


async def test_redis_keeps_a_commits_notices_only_if_it_succeeds(redis: Redis) -> None:
    store, boxes = RedisEntityStore(redis), await report_boxes()
    key = hazard_key("H1")
    assert await store.commit([Write(key, 0, "{}", outbox=tuple(boxes))]) == []
    assert await store.commit([Write(key, 0, "{}", outbox=(boxes[0],))]) == [0]  # stale
    assert await redis.hlen(OUTBOX_KEY) == len(boxes)
    left = await store.outbox_due(0.0, 100)
    assert sorted((b.event_id, b.key, b.payload) for b in left) == sorted(
        (b.event_id, b.key, b.payload) for b in boxes
    )
    assert await store.outbox_due(60.0, 100) == []  # taken: left alone for another minute
    await store.outbox_done([b.event_id for b in boxes])
    assert await redis.exists(OUTBOX_KEY, OUTBOX_AT_KEY) == 0


async def test_the_sweep_publishes_what_a_dead_engine_left(
    settings: Settings, redis: Redis
) -> None:
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topics), 2)
    store, boxes = RedisEntityStore(redis), await report_boxes()
    await store.commit([Write(hazard_key("H1"), 0, "{}", outbox=tuple(boxes))])
    broker = KafkaBroker(settings.kafka_bootstrap)
    sink = KafkaSink(broker, settings.topics)
    async with broker:
        await broker.start()
        assert await OutboxSweep(store, sink, min_age_s=0.0).once() == len(boxes)
    records = await read_topic(
        settings.kafka_bootstrap, settings.topics.notice_requested, len(boxes)
    )
    assert sorted((r.key, r.value) for r in records) == sorted(
        (b.key.encode(), b.payload) for b in boxes
    )
    assert await redis.hlen(OUTBOX_KEY) == 0
