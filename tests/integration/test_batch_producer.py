"""Record batches on the real broker: every record arrives, with its key, value and
headers, on the partition Kafka's default partitioner gives its key."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import DefaultPartitioner

from services.batchproducer import BatchProducer
from services.kafka import ensure_topics
from services.settings import Settings
from tests.integration.conftest import read_topic

HEADERS = [("content-type", b"application/json")]


async def test_every_record_arrives_on_its_keys_partition(settings: Settings) -> None:
    topic = settings.topics.notice_receipts
    await ensure_topics(settings.kafka_bootstrap, [topic], partitions=3)
    producer = BatchProducer(settings.kafka_bootstrap, client_id="test-batches")
    await producer.start()
    # 3,000 records of 1 KiB: several batches per partition (a batch holds up to 1 MiB).
    records = [(f"n:{i}".encode(), b"%06d" % i + b"x" * 1018) for i in range(3000)]
    try:
        await producer.publish(topic, records[:1000], HEADERS)
        await producer.publish(topic, records[1000:], HEADERS)
    finally:
        await producer.stop()
    read = await read_topic(settings.kafka_bootstrap, topic, at_least=len(records))
    assert sorted((r.key, r.value) for r in read) == sorted(records)  # each once
    partitioner = DefaultPartitioner()
    assert all(r.partition == partitioner(r.key, [0, 1, 2], [0, 1, 2]) for r in read)
    assert all(list(r.headers) == HEADERS for r in read)
    for partition in (0, 1, 2):  # in publish order within each partition
        mine = sorted((r for r in read if r.partition == partition), key=lambda r: r.offset)
        assert [r.value[:6] for r in mine] == sorted(r.value[:6] for r in mine)


async def test_a_stopped_producer_refuses_rather_than_waits(settings: Settings) -> None:
    producer = BatchProducer(settings.kafka_bootstrap, client_id="test-batches")
    await producer.start()
    await producer.stop()
    with pytest.raises(KafkaConnectionError):
        await producer.publish(settings.topics.notice_receipts, [(b"k", b"v")], HEADERS)
