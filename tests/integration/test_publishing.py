"""Publishing through FastStream publishers on the real broker, batched by aiokafka's
producer (no batches of our own): every receipt and every notice arrives once, keyed by
notice id, with its content type, on the partition Kafka's default partitioner gives the
key; a broker that was stopped refuses rather than waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from services.core.routing import PlannedChannel
from services.kafka import KafkaSink, ensure_topics
from services.notifier.app import LINGER_MS, MAX_BATCH_BYTES
from services.notifier.ledger import Sent
from services.notifier.outcomes import KafkaOutcomes
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import read_topic
from tests.integration.deliverykit import notice
from tests.perf.notices import sample_notices

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
PARTITIONS = [0, 1, 2]
RECEIPTS = 2000  # several of the producer's batches per partition


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[KafkaBroker]:
    """A broker configured as the notifier's, on three-partition topics."""
    topics = settings.topics
    names = [topics.notice_receipts, topics.dlq_notices, topics.notice_requested]
    await ensure_topics(settings.kafka_bootstrap, names, partitions=len(PARTITIONS))
    broker = KafkaBroker(
        settings.kafka_bootstrap, linger_ms=LINGER_MS, max_batch_size=MAX_BATCH_BYTES
    )
    yield broker
    await broker.stop()


def outcomes_on(broker: KafkaBroker, settings: Settings) -> KafkaOutcomes:
    topics = settings.topics
    receipts, dead = broker.publisher(topics.notice_receipts), broker.publisher(topics.dlq_notices)
    return KafkaOutcomes(receipts, dead, None, FakeClock(NOW))  # type: ignore[arg-type]


def on_keys_partition(records: list) -> bool:
    partitioner = DefaultPartitioner()
    return all(r.partition == partitioner(r.key, PARTITIONS, PARTITIONS) for r in records)


async def test_concurrent_receipts_each_arrive_once_on_their_keys_partition(
    settings: Settings, broker: KafkaBroker
) -> None:
    outcomes = outcomes_on(broker, settings)
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


async def test_the_engines_notices_arrive_in_order_on_their_keys_partition(
    settings: Settings, broker: KafkaBroker
) -> None:
    sink = KafkaSink(broker, settings.topics)
    await broker.start()
    email = (PlannedChannel("email", None),)
    planned = [
        replace(n, notice_id=f"{n.notice_id}~{copy}", channels=email)
        for copy in range(200)
        for n in sample_notices()
    ]
    await sink.notices(planned[:500])
    await sink.notices(planned[500:])
    topic = settings.topics.notice_requested
    read = await read_topic(settings.kafka_bootstrap, topic, len(planned))
    sent_ids = [f"{n.notice_id}#{n.occurrence}@{n.recipient.person.id}" for n in planned]
    assert sorted(json.loads(r.value)["id"] for r in read) == sorted(sent_ids)  # each once
    assert all(dict(r.headers)["content-type"] == b"application/json" for r in read)
    assert on_keys_partition(read)
    for partition in PARTITIONS:  # in publish order within each partition
        mine = sorted((r for r in read if r.partition == partition), key=lambda r: r.offset)
        ids = [json.loads(r.value)["id"] for r in mine]
        here = set(ids)
        assert ids == [i for i in sent_ids if i in here]


async def test_a_stopped_broker_refuses_a_receipt_rather_than_waits(
    settings: Settings, broker: KafkaBroker
) -> None:
    outcomes = outcomes_on(broker, settings)
    await broker.start()
    await broker.stop()
    with pytest.raises(IncorrectState):
        await outcomes.delivered(notice(1, "email"), "email", Sent("m-1", 1, NOW))
