"""Kafka plumbing shared by the services: topics, dead letters, outbound notice events.

Everything duban publishes goes through FastStream publishers of the service's own
KafkaBroker; aiokafka's producer batches the records (its linger and batch size). The
notifier's receipts go out in groups (services.grouppublish), through the same broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
)
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from contracts.topics import (
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_REASON,
    DLQ_HEADER_SHA256,
    DLQ_HEADER_SIZE,
    DLQ_HEADER_TOPIC,
    DLQ_HEADER_TRUNCATED,
    Topics,
)
from services.core.evaluate import PlannedNotice
from services.core.noticeevent import Boxed, box
from services.guard import Record
from services.masking import redact
from services.metrics import EngineMetrics

log = logging.getLogger("duban.kafka")
PARTITIONS = 6
# A dead letter larger than this is kept as a truncated copy (the producer's default
# max_request_size is 1 MiB; headers and the batch's framing need some room).
DLQ_MAX_BYTES = 900_000
# What a truncated copy keeps of the original; smaller again if the topic refuses that.
DLQ_TRUNCATED_BYTES = (64 * 1024, 4 * 1024)
JSON_HEADERS = {"content-type": "application/json"}
START_RETRY_S = (1.0, 10.0)  # first and longest wait for a broker that does not answer


class Publisher(Protocol):
    """Publishes records: a FastStream publisher (to its topic, or to ``topic`` if given),
    or the broker itself (to ``topic``)."""

    async def publish(
        self,
        message: Any,
        topic: str = "",
        *,
        key: bytes | None = None,
        headers: dict[str, str] | None = None,
        correlation_id: str | None = None,
        no_confirm: bool = False,
    ) -> Any:
        """Publish one record; with ``no_confirm``, a future of the broker's confirmation."""


async def ensure_topics(bootstrap: str, names: Sequence[str], partitions: int = PARTITIONS) -> None:
    """Create missing topics (single-node replication); existing ones are left as they are.
    A broker that does not answer yet is waited for (a replica restarted during a broker
    outage starts once the broker is back, rather than exiting)."""
    admin = await _admin(bootstrap)
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        # Another replica may create a topic between our look and our create.
        with contextlib.suppress(TopicAlreadyExistsError):
            if missing:
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def _admin(
    bootstrap: str, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
) -> AIOKafkaAdminClient:
    """A started admin client, retried every few seconds until the broker answers."""
    delay = START_RETRY_S[0]
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            with contextlib.suppress(Exception):
                await admin.close()
            log.warning(
                "Kafka %s 无法连接，%.0f 秒后重试 (Kafka unreachable; retrying in %.0f s)",
                bootstrap,
                delay,
                delay,
            )
            await sleep(delay)
            delay = min(delay * 2, START_RETRY_S[1])


class KafkaSink:
    """Publishes the engine's notices and dead letters, awaiting the broker's confirmation.
    Its publishers are declared on the broker (and in its AsyncAPI document) when built."""

    def __init__(
        self, broker: KafkaBroker, topics: Topics, metrics: EngineMetrics | None = None
    ) -> None:
        self.topics = topics
        self.metrics = metrics if metrics is not None else EngineMetrics()
        self._notices = broker.publisher(
            topics.notice_requested,
            headers=JSON_HEADERS,
            description="notice.requested: one notice to one recipient, keyed by notice id.",
        )
        self._dead_letters = broker.publisher(
            topics.dlq_events,
            description="Inbound events refused: original bytes and key, reason in headers.",
        )

    async def notices(
        self, notices: Sequence[PlannedNotice], encoded: Sequence[Boxed] = ()
    ) -> None:
        """Publish notice.requested events, keyed by notice id, all in flight at once."""
        await self.boxed(encoded or [box(n) for n in notices])

    async def boxed(self, events: Sequence[Boxed]) -> None:
        """Publish encoded notice.requested events, all in flight at once."""
        pending = [
            await self._notices.publish(
                e.payload,
                key=e.key.encode(),
                correlation_id=e.event_id,  # the event's id: no random one to make
                no_confirm=True,
            )
            for e in events
        ]
        await confirmed(pending)
        self.metrics.notices_requested.inc(len(events))

    async def dead_letter(self, record: Record, reason: str) -> None:
        """Publish the original bytes with the reason and origin in headers."""
        await dead_letter(self._dead_letters, self.topics.dlq_events, record, reason)


async def confirmed(pending: Sequence[Awaitable[object] | None]) -> None:
    """Return once the broker confirmed every record published with ``no_confirm``
    (FastStream's in-memory TestKafkaBroker hands back None: it has delivered already)."""
    await asyncio.gather(*(p for p in pending if p is not None))


async def dead_letter(
    publisher: Publisher, topic: str, record: Record, reason: str, max_bytes: int = DLQ_MAX_BYTES
) -> None:
    """Send a record's original bytes, under its original key, to a dead-letter topic with
    the (masked) reason and origin in headers. One too large for the topic goes as a
    truncated copy with its size and SHA-256: it is never retried forever."""
    headers = {
        DLQ_HEADER_REASON: redact(reason, limit=1000),
        DLQ_HEADER_TOPIC: record.topic,
        DLQ_HEADER_PARTITION: str(record.partition),
        DLQ_HEADER_OFFSET: str(record.offset),
    }
    if len(record.value) <= max_bytes:
        try:
            await publisher.publish(record.value, topic, key=record.key, headers=headers)
            return
        except MessageSizeTooLargeError:
            log.warning(
                "dead letter of %s too large for %s; keeping a truncated copy",
                record.position,
                topic,
            )
    for keep in DLQ_TRUNCATED_BYTES:
        try:
            await publisher.publish(
                record.value[:keep], topic, key=record.key, headers=_truncated(headers, record)
            )
            return
        except MessageSizeTooLargeError:
            continue
    raise RuntimeError(f"{topic} refuses even a {DLQ_TRUNCATED_BYTES[-1]}-byte dead letter")


def _truncated(headers: dict[str, str], record: Record) -> dict[str, str]:
    return {
        **headers,
        DLQ_HEADER_TRUNCATED: "true",
        DLQ_HEADER_SIZE: str(len(record.value)),
        DLQ_HEADER_SHA256: hashlib.sha256(record.value).hexdigest(),
    }


async def undecoded(message: StreamMessage[Any]) -> None:
    """A subscriber decoder for handlers that read raw records: FastStream's json.loads
    of every body would be wasted work."""
    return None


def records_of(raw: Any) -> list[Record]:
    """Records of a consumed FastStream Kafka message (one record, or a batch)."""
    batch = raw if isinstance(raw, tuple | list) else (raw,)
    return [
        Record(r.value or b"", r.topic, r.partition, r.offset, r.key, r.timestamp or 0)
        for r in batch
    ]
