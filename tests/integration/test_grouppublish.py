"""Receipts through a GroupPublisher on the real broker: concurrent records go out in
FastStream batches, one per partition, and every record arrives once, keyed, with its
content type, on the partition Kafka's default partitioner gives its key (the topic's
partitions read from the broker, not assumed), in publish order for each key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import KafkaBroker

from services.grouppublish import GroupPublisher
from services.kafka import ensure_topics
from services.notifier.app import LINGER_MS, MAX_BATCH_BYTES
from services.notifier.ledger import Sent
from services.notifier.outcomes import KafkaOutcomes
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import read_topic
from tests.integration.deliverykit import notice

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
PARTITIONS = [0, 1, 2]
RECEIPTS = 2000


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[KafkaBroker]:
    """A broker configured as the notifier's, on a three-partition receipts topic."""
    await ensure_topics(
        settings.kafka_bootstrap, [settings.topics.notice_receipts], partitions=len(PARTITIONS)
    )
    broker = KafkaBroker(
        settings.kafka_bootstrap, linger_ms=LINGER_MS, max_batch_size=MAX_BATCH_BYTES
    )
    yield broker
    await broker.stop()


def publisher_on(broker: KafkaBroker, settings: Settings) -> GroupPublisher:
    # More partitions assumed than the topic has: the real ones must be read.
    return GroupPublisher(broker, settings.topics.notice_receipts, fallback_partitions=7)


def on_keys_partition(records: list) -> bool:
    partitioner = DefaultPartitioner()
    return all(r.partition == partitioner(r.key, PARTITIONS, PARTITIONS) for r in records)


async def test_concurrent_receipts_each_arrive_once_on_their_keys_partition(
    settings: Settings, broker: KafkaBroker
) -> None:
    receipts = publisher_on(broker, settings)
    outcomes = KafkaOutcomes(receipts, receipts, None, FakeClock(NOW))  # type: ignore[arg-type]
    await broker.start()
    items = [notice(n, "email") for n in range(RECEIPTS)]
    await asyncio.gather(
        *(outcomes.delivered(i, "email", Sent(f"m-{n}", 1, NOW)) for n, i in enumerate(items))
    )
    read = await read_topic(settings.kafka_bootstrap, settings.topics.notice_receipts, RECEIPTS)
    ids = sorted(json.loads(r.value)["id"] for r in read)
    assert ids == sorted(i.delivery_key("email") for i in items)  # each once
    assert all(r.key == json.loads(r.value)["data"]["notice_id"].encode() for r in read)
    assert all(dict(r.headers)["content-type"] == b"application/json" for r in read)
    assert on_keys_partition(read)


async def test_records_of_one_key_arrive_in_publish_order(
    settings: Settings, broker: KafkaBroker
) -> None:
    receipts = publisher_on(broker, settings)
    await broker.start()
    keys = [f"notice-{k}".encode() for k in range(20)]
    sent = [(f"{key.decode()}#{n}".encode(), key) for n in range(50) for key in keys]
    await asyncio.gather(*(receipts.publish(value, key=key) for value, key in sent))
    read = await read_topic(settings.kafka_bootstrap, settings.topics.notice_receipts, len(sent))
    assert sorted(r.value for r in read) == sorted(v for v, _ in sent)  # each once
    assert on_keys_partition(read)
    for key in keys:
        mine = sorted((r for r in read if r.key == key), key=lambda r: r.offset)
        assert [r.value for r in mine] == [v for v, k in sent if k == key]
