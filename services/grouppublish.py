"""Group publishing: the records of many concurrent callers go out in a few batches.

Hundreds of deliveries in flight each publish one small receipt and wait for the
broker's confirmation. Published one by one, every record pays FastStream's publish
path (command, middlewares, headers) and aiokafka's (partitioning, accumulator, a
future of its own): more CPU than building the receipt. :class:`GroupPublisher`
queues the records (services.groupcommit: whatever arrives while a batch is in flight
is the next batch), splits a batch by partition exactly as the producer's default
partitioner places keys (murmur2 of the key over the topic's partitions), and sends
each partition's records with FastStream's ``publish_batch``, one confirmation awaited
per partition batch. A caller returns once its record is confirmed, or gets its batch's
error: at least once, as before, and records of one key keep their order (one batch
in flight at a time, records in the order they came).

The topic's partitions are read through the broker's admin client and read again
every :data:`PARTITIONS_MAX_AGE_S` (aiokafka's producer refreshes its metadata as
often). Without an admin client (FastStream's in-memory ``TestKafkaBroker``) the
``fallback_partitions`` are assumed. All records of one batch share the batch's
FastStream headers; FastStream gives the batch one ``correlation_id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker, KafkaResponse

from services.groupcommit import GroupCommit

MAX_RECORDS = 500  # records per group (they may span every partition)
MAX_BATCH_BYTES = 192 * 1024  # per partition batch: under the producer's max_batch_size
RECORD_OVERHEAD = 96  # bytes a record adds to a batch besides its key, value and headers
PARTITIONS_MAX_AGE_S = 300.0

Headers = tuple[tuple[str, str], ...]
Item = tuple[bytes, bytes | None, Headers]  # value, key, headers
Where = tuple[int, Headers]  # partition, headers


class GroupPublisher:
    """Publishes to one topic in groups; ``publish`` has the signature of a FastStream
    publisher's (services.kafka.Publisher), without ``no_confirm``: it returns once
    the broker confirmed the record."""

    def __init__(
        self,
        broker: KafkaBroker,
        topic: str,
        *,
        fallback_partitions: int,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if fallback_partitions < 1:
            raise ValueError("fallback_partitions must be at least 1")
        self.broker = broker
        self.topic = topic
        self._fallback = list(range(fallback_partitions))
        self._max_bytes = max_batch_bytes
        self._monotonic = monotonic
        self._partitioner = DefaultPartitioner()
        self._partitions: list[int] = []
        self._read_at = float("-inf")
        self._group: GroupCommit[Item, None] = GroupCommit(self._send, MAX_RECORDS)

    async def publish(
        self,
        message: Any,
        topic: str = "",
        *,
        key: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        correlation_id: str | None = None,  # one per batch (FastStream's), not per record
        no_confirm: bool = False,
    ) -> None:
        """Publish one record to this publisher's topic; return once it is confirmed."""
        if topic and topic != self.topic:
            raise ValueError(f"this publisher publishes to {self.topic}, not {topic}")
        if no_confirm:
            raise ValueError("a group publisher always waits for the confirmation")
        if not isinstance(message, bytes):
            raise TypeError("a group publisher publishes bytes")
        await self._group.submit((message, key, tuple(sorted((headers or {}).items()))))

    async def _send(self, items: list[Item]) -> list[None]:
        """One group: every partition batch published, then every confirmation awaited."""
        partitions = await self._partitions_now()
        pending = [
            await self.broker.publish_batch(
                *(KafkaResponse(value, key=key) for value, key, _ in batch),
                topic=self.topic,
                partition=partition,
                headers=dict(headers),
                no_confirm=True,
            )
            for (partition, headers), batch in self._split(items, partitions)
        ]
        for confirmation in pending:
            if confirmation is not None:  # TestKafkaBroker delivers at once, returns None
                await confirmation
        return [None] * len(items)

    def _split(
        self, items: Sequence[Item], partitions: list[int]
    ) -> list[tuple[Where, list[Item]]]:
        """The items by partition (and headers), in their order, in batches that fit."""
        batches: list[tuple[Where, list[Item]]] = []
        filling: dict[Where, tuple[list[Item], int]] = {}  # the open batch and its size
        for item in items:
            value, key, headers = item
            where = (self._partitioner(key, partitions, partitions), headers)
            size = len(value) + len(key or b"") + RECORD_OVERHEAD
            size += sum(len(k) + len(v) for k, v in headers)
            batch, used = filling.get(where, (None, 0))
            if batch is None or used + size > self._max_bytes:
                batch, used = [], 0
                batches.append((where, batch))
            batch.append(item)
            filling[where] = (batch, used + size)
        return batches

    async def _partitions_now(self) -> list[int]:
        """The topic's partitions, read again once they are PARTITIONS_MAX_AGE_S old."""
        if self._partitions and self._monotonic() - self._read_at < PARTITIONS_MAX_AGE_S:
            return self._partitions
        try:
            admin = self.broker.config.admin_client
        except IncorrectState:  # not connected: FastStream's in-memory TestKafkaBroker
            return self._fallback  # (a real broker not started refuses the batch anyway)
        self._partitions = await _partitions_of(admin, self.topic) or self._fallback
        self._read_at = self._monotonic()
        return self._partitions


async def _partitions_of(admin: Any, topic: str) -> list[int]:
    """The topic's partition ids, sorted (what the producer's partitioner is given)."""
    described = await admin.describe_topics([topic])
    found = [d for d in described if d.get("topic") == topic and not d.get("error_code")]
    return sorted(p["partition"] for d in found for p in d["partitions"])
