"""A consumer group's progress on its topics: how many records it has yet to commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

READ_TIMEOUT_S = 5.0  # a request to a broker that just restarted can hang much longer


async def consumer_lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Records on `topics` not yet committed by `group` (a partition never committed counts
    from its first record still kept); TimeoutError after READ_TIMEOUT_S."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        return await asyncio.wait_for(_lag(admin, consumer, group, topics), READ_TIMEOUT_S)
    finally:
        await consumer.stop()
        await admin.close()


async def _lag(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: Sequence[str]
) -> int:
    described = await admin.describe_topics(list(topics))
    partitions = [
        TopicPartition(d["topic"], p["partition"])
        for d in described
        if d["error_code"] == 0
        for p in d["partitions"]
    ]
    if not partitions:
        return 0
    committed = await admin.list_consumer_group_offsets(group)
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.beginning_offsets(partitions)
    return sum(ends[tp] - max(_committed(committed, tp), starts[tp]) for tp in partitions)


def _committed(committed: dict[TopicPartition, Any], tp: TopicPartition) -> int:
    meta = committed.get(tp)
    return meta.offset if meta is not None and meta.offset >= 0 else 0
