"""The audit service: consumes what duban receives, decides, sends and hears back, and
appends it to the trail on PostgreSQL (see docs/audit.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter, Histogram

from contracts.registry import InputLimits
from contracts.topics import Topics
from services.audit.batches import pipelined
from services.audit.chain import Sealable
from services.audit.retention import load_audit_config
from services.audit.rows import AuditRecord, entry_of
from services.audit.schema import migrate
from services.audit.writer import Connector, TrailWriter
from services.clock import Clock, SystemClock
from services.guard import Record, RecordGuard
from services.health import Health
from services.kafka import dead_letter, ensure_topics, undecoded
from services.metrics import BATCH_BUCKETS_S, Metrics
from services.settings import Settings, all_topics

log = logging.getLogger("duban.audit")
PROBE_TIMEOUT_S = 2.0


class AuditMetrics:
    """The audit service's metrics."""

    def __init__(self, registry: Metrics) -> None:
        self.rows = registry.family(Counter, "duban_audit_rows_written", "Rows appended.")
        self.repeats = registry.family(
            Counter,
            "duban_audit_records_repeated",
            "Records consumed again that the trail already held (replays, redeliveries).",
        )
        self.batch_seconds = registry.family(
            Histogram,
            "duban_audit_batch_seconds",
            "Time to append one consumed batch (a PostgreSQL transaction per chunk).",
            buckets=BATCH_BUCKETS_S,
        )


@dataclass
class AuditParts:
    """What the audit app built, for tests and the runner to reach."""

    broker: KafkaBroker
    app: FastStream
    health: Health
    connector: Connector
    metrics: Metrics = field(default_factory=Metrics)
    writer: TrailWriter | None = None

    async def problems(self) -> list[str]:
        """What keeps the service from being ready (Kafka, consumer, PostgreSQL)."""
        found = await self.health.problems()
        if not await self.database_answers():
            found.append("audit: PostgreSQL unreachable")
        return found

    async def healthy(self) -> bool:
        """Kafka and PostgreSQL both answer."""
        return await self.health.healthy() and await self.database_answers()

    async def database_answers(self) -> bool:
        try:
            async with self.connector.using() as conn:
                await asyncio.wait_for(conn.execute("SELECT 1"), PROBE_TIMEOUT_S)
        except Exception:  # a probe reports, it never raises
            return False
        return True


@dataclass
class Keeper:
    """Keeps consumed batches in the trail, a chunk decoded while the last is written."""

    parts: AuditParts
    topics: Topics
    limits: InputLimits
    counts: AuditMetrics

    async def keep(self, records: Sequence[Record]) -> None:
        with self.counts.batch_seconds.time():
            await pipelined(records, self.decode, self.write)

    def decode(self, records: Sequence[Record]) -> list[Sealable]:
        """The records' entries, made ready to be sealed (the CPU-heavy part)."""
        return self._writer().prepare(
            e
            for r in records
            if isinstance(r, AuditRecord)
            and (e := entry_of(r, self.topics, self.limits)) is not None
        )

    async def write(self, items: list[Sealable]) -> int:
        written = await self._writer().write(items)
        self.counts.rows.inc(written)
        self.counts.repeats.inc(len(items) - written)
        return written

    def _writer(self) -> TrailWriter:
        assert self.parts.writer is not None, "audit used before its lifespan started"
        return self.parts.writer


def create_audit(
    settings: Settings, clock: Clock | None = None, metrics: Metrics | None = None
) -> AuditParts:
    """Build the audit app; connections open in its lifespan, nothing at import time."""
    retention = load_audit_config(settings.config_dir).retention
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-audit", logger=log)
    health = Health("audit", broker, checks=["kafka", "consumer"])
    connector = Connector(settings.audit_dsn.get_secret_value())
    parts = AuditParts(broker, FastStream(broker, logger=log), health, connector)
    parts.metrics = metrics if metrics is not None else Metrics()
    counts = AuditMetrics(parts.metrics)
    topics = settings.topics
    dead_letters = broker.publisher(
        topics.dlq_events,
        description="Records the audit could not keep: original bytes and key, reason in headers.",
    )

    async def dead_letter_record(record: Record, reason: str) -> None:
        if record.topic in (topics.dlq_events, topics.dlq_notices):
            # Never back to where it came from (a loop); it stays on its topic.
            log.error("dead letter %s not kept in the trail: %s", record.position, reason)
            return
        await dead_letter(dead_letters, topics.dlq_events, record, reason)

    guard = RecordGuard(
        "audit", dead_letter_record, parts.healthy, log, attempts=settings.poison_attempts
    )

    keeper = Keeper(parts, topics, settings.input_limits, counts)

    @broker.subscriber(
        *topics.inbound(),
        topics.notice_requested,
        topics.notice_receipts,
        topics.dlq_events,
        topics.dlq_notices,
        group_id=settings.audit_group,
        batch=True,
        max_records=settings.audit_batch_max,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=undecoded,
    )
    async def on_records(message: KafkaMessage) -> None:
        await guard.run(audit_records(message.raw_message), keeper.keep)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, all_topics(topics), settings.topic_partitions)
        async with connector.using() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("audit schema: applied %s", ", ".join(applied))
        parts.writer = TrailWriter(connector, retention, clock or SystemClock())
        try:
            yield
        finally:
            await connector.aclose()

    parts.app = FastStream(broker, lifespan=lifespan, logger=log)
    return parts


def audit_records(raw: Any) -> list[Record]:
    """The consumed records with their headers and timestamps."""
    batch = raw if isinstance(raw, tuple | list) else (raw,)
    return [
        AuditRecord(
            r.value or b"",
            r.topic,
            r.partition,
            r.offset,
            r.key,
            headers={k: bytes(v or b"").decode("utf-8", "replace") for k, v in r.headers or ()},
            timestamp_ms=r.timestamp or 0,
        )
        for r in batch
    ]
