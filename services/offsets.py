"""A consumer group's progress on its topics: what it has applied, where the topics end.

`GroupOffsets` keeps one admin client and one (group-less) consumer open between reads,
and opens them again after a failure; the engine's timer gate (services.engine.watermark)
reads it, and the records not applied yet, twice a second. `consumer_lag` is the one-off
question: how many records the group has yet to commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

#: Per partition: (the offset the group has committed up to, the end offset).
Progress = tuple[dict[TopicPartition, int], dict[TopicPartition, int]]
READ_TIMEOUT_S = 5.0
FETCH_WAIT_MS = 500


@dataclass(frozen=True)
class Waiting:
    """A record the group has not applied yet: its topic, key, and when it reached Kafka."""

    topic: str
    key: bytes | None
    timestamp_ms: int


class GroupOffsets:
    """Reads `group`'s committed offsets and the end offsets of `topics`. A partition the
    group never committed counts from its first offset still kept."""

    def __init__(self, bootstrap: str, group: str, topics: Sequence[str]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = list(topics)
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self) -> Progress:
        """(committed, ends) per partition of the topics; raises what Kafka raised, or
        TimeoutError after READ_TIMEOUT_S (a request to a broker that restarted can wait
        on a dead connection for much longer)."""
        try:
            return await asyncio.wait_for(self._read(), READ_TIMEOUT_S)
        except BaseException:
            await self.aclose()  # opened afresh on the next read
            raise

    async def _read(self) -> Progress:
        admin, consumer = await self._clients()
        described = await admin.describe_topics(self.topics)
        partitions = [
            TopicPartition(d["topic"], p["partition"])
            for d in described
            if d["error_code"] == 0
            for p in d["partitions"]
        ]
        if not partitions:
            return {}, {}
        committed = await admin.list_consumer_group_offsets(self.group)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        applied = {tp: max(_committed(committed, tp), starts[tp]) for tp in partitions}
        return applied, dict(ends)

    async def caught_up(self) -> bool:
        """Whether the group has committed every record of the topics."""
        applied, ends = await self.read()
        return all(applied[tp] >= end for tp, end in ends.items())

    async def waiting(
        self, behind: Mapping[TopicPartition, tuple[int, int]], cap: int
    ) -> dict[TopicPartition, list[Waiting]]:
        """The records of each partition in `behind` from its applied offset up to its end
        offset there, at most `cap` of each; raises as `read` does."""
        try:
            return await asyncio.wait_for(self._waiting(behind, cap), READ_TIMEOUT_S)
        except BaseException:
            await self.aclose()
            raise

    async def _waiting(
        self, behind: Mapping[TopicPartition, tuple[int, int]], cap: int
    ) -> dict[TopicPartition, list[Waiting]]:
        _, consumer = await self._clients()
        consumer.assign(list(behind))
        for tp, (start, _) in behind.items():
            consumer.seek(tp, start)
        found: dict[TopicPartition, list[Waiting]] = {tp: [] for tp in behind}
        todo = {tp for tp, (start, end) in behind.items() if start < end}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=FETCH_WAIT_MS, max_records=cap)
            for tp, records in batch.items():
                end = behind[tp][1]
                kept = [Waiting(tp.topic, r.key, r.timestamp) for r in records if r.offset < end]
                found[tp] += kept[: cap - len(found[tp])]
            for tp in list(todo):
                if len(found[tp]) >= cap or await consumer.position(tp) >= behind[tp][1]:
                    todo.discard(tp)
        return found

    async def aclose(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            await self.aclose()
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            self._admin, self._consumer = admin, consumer  # closed by aclose if a start fails
            await admin.start()
            await consumer.start()
        return self._admin, self._consumer


async def consumer_lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Records on `topics` not yet committed by `group` (a partition never committed counts
    from its start)."""
    offsets = GroupOffsets(bootstrap, group, topics)
    try:
        applied, ends = await offsets.read()
    finally:
        await offsets.aclose()
    return sum(end - applied[tp] for tp, end in ends.items())


def _committed(committed: dict[TopicPartition, Any], tp: TopicPartition) -> int:
    meta = committed.get(tp)
    return meta.offset if meta is not None and meta.offset >= 0 else 0
