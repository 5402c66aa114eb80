"""GroupPublisher in memory (FastStream's TestKafkaBroker): concurrent records go out in
partition batches, each on the partition the producer's default partitioner gives its
key, each once, in order per key; a batch's failure reaches every caller in it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.grouppublish import GroupPublisher
from services.kafka import JSON_HEADERS, undecoded

TOPIC = "receipts.test"
PARTITIONS = 6


def kept(broker: KafkaBroker) -> list[Any]:
    """Every record published to TOPIC, raw, in the order the broker delivered them."""
    records: list[Any] = []

    @broker.subscriber(TOPIC, decoder=undecoded)
    async def keep(message: KafkaMessage) -> None:
        records.append(message.raw_message)

    return records


class CountingBroker(KafkaBroker):
    """A broker that counts the batches it is asked to publish."""

    batches: list[int]

    async def publish_batch(self, *messages: Any, **options: Any) -> Any:
        self.batches.append(len(messages))
        return await super().publish_batch(*messages, **options)


def counting_broker() -> CountingBroker:
    broker = CountingBroker()
    broker.batches = []
    return broker


async def test_concurrent_records_arrive_once_each_on_their_keys_partition() -> None:
    broker = counting_broker()
    records = kept(broker)
    publisher = GroupPublisher(broker, TOPIC, fallback_partitions=PARTITIONS)
    sent = [(f"value-{n}".encode(), f"key-{n % 40}".encode()) for n in range(400)]
    async with TestKafkaBroker(broker):
        await asyncio.gather(*(publisher.publish(v, key=k, headers=JSON_HEADERS) for v, k in sent))
    assert sorted((r.value, r.key) for r in records) == sorted(sent)  # each once
    partitioner, partitions = DefaultPartitioner(), list(range(PARTITIONS))
    assert all(r.partition == partitioner(r.key, partitions, partitions) for r in records)
    assert all(dict(r.headers)["content-type"] == b"application/json" for r in records)
    # The first record goes alone, the rest wait for it and go together: few batches.
    assert sum(broker.batches) == len(sent) and len(broker.batches) <= 1 + 2 * PARTITIONS


async def test_records_of_one_key_keep_their_order() -> None:
    broker = counting_broker()
    records = kept(broker)
    publisher = GroupPublisher(broker, TOPIC, fallback_partitions=PARTITIONS)
    sent = [(f"{key}:{n}".encode(), key.encode()) for n in range(50) for key in "abcdefgh"]
    async with TestKafkaBroker(broker):
        await asyncio.gather(*(publisher.publish(v, key=k) for v, k in sent))
    for key in "abcdefgh":
        mine = [r.value for r in records if r.key == key.encode()]
        assert mine == [f"{key}:{n}".encode() for n in range(50)]


async def test_a_batch_never_passes_its_size_and_nothing_is_lost() -> None:
    broker = counting_broker()
    records = kept(broker)
    publisher = GroupPublisher(broker, TOPIC, fallback_partitions=PARTITIONS, max_batch_bytes=1_900)
    sent = [(bytes(300), f"k{n}".encode()) for n in range(120)]
    async with TestKafkaBroker(broker):
        await asyncio.gather(*(publisher.publish(v, key=k) for v, k in sent))
    assert sorted(r.key for r in records) == sorted(k for _, k in sent)
    # 300 bytes of value, a 2-3 byte key and the overhead: 4 records fit in 1,900 bytes.
    assert max(broker.batches) == 4 and sum(broker.batches) == len(sent)


async def test_records_with_other_headers_go_in_batches_of_their_own() -> None:
    broker = counting_broker()
    records = kept(broker)
    publisher = GroupPublisher(broker, TOPIC, fallback_partitions=1)
    async with TestKafkaBroker(broker):
        await asyncio.gather(
            publisher.publish(b"first", key=b"k"),
            publisher.publish(b"json", key=b"k", headers=JSON_HEADERS),
            publisher.publish(b"plain", key=b"k", headers={"x-kind": "plain"}),
        )
    found = {r.value: dict(r.headers) for r in records}
    assert found[b"json"]["content-type"] == b"application/json"
    assert found[b"plain"]["x-kind"] == b"plain" and "x-kind" not in found[b"json"]


async def test_a_failed_batch_fails_every_caller_in_it() -> None:
    broker = counting_broker()
    kept(broker)
    publisher = GroupPublisher(broker, TOPIC, fallback_partitions=PARTITIONS)

    async def refuse(*messages: Any, **options: Any) -> Any:
        raise ConnectionError("broker gone")

    async with TestKafkaBroker(broker):
        broker.publish_batch = refuse  # type: ignore[method-assign]
        results = await asyncio.gather(
            *(publisher.publish(b"v", key=f"k{n}".encode()) for n in range(20)),
            return_exceptions=True,
        )
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_what_a_group_publisher_does_not_do_is_refused() -> None:
    publisher = GroupPublisher(KafkaBroker(), TOPIC, fallback_partitions=PARTITIONS)
    with pytest.raises(ValueError, match=r"publishes to receipts\.test"):
        await publisher.publish(b"v", "other.topic", key=b"k")
    with pytest.raises(ValueError, match="always waits"):
        await publisher.publish(b"v", key=b"k", no_confirm=True)
    with pytest.raises(TypeError, match="bytes"):
        await publisher.publish({"a": 1}, key=b"k")
    with pytest.raises(ValueError, match="at least 1"):
        GroupPublisher(KafkaBroker(), TOPIC, fallback_partitions=0)
