"""The audit trail's figures: ingest records/s through Kafka into PostgreSQL, side by side
with a plain INSERT per row (the floor to beat), and `duban trace` of one subject with
millions of rows loaded.

Ingest: the topics are filled first (notices, receipts and hazard events over many
subjects), then the audit app starts and the clock runs until every record is a row;
then the same with two audit processes in one consumer group (reported, not judged).
The floor inserts the same sealed rows one INSERT (one commit) at a time. Trace: see
tests/perf/audit_trace.py; the records: tests/perf/audit_events.py.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import fields
from typing import Any

from psycopg import AsyncConnection
from pydantic import SecretStr

from contracts.registry import InputLimits
from contracts.topics import Topics
from services.audit.app import create_audit
from services.audit.chain import seal
from services.audit.retention import Retention
from services.audit.rows import AuditRecord, entry_of
from services.audit.schema import migrate
from services.audit.writer import columns
from services.runner import running
from services.settings import Settings
from tests.integration.conftest import wait_for
from tests.perf.audit_events import CONFIG, T0, database, events, fill
from tests.perf.audit_trace import TRACE_RUNS, trace_ms
from tests.perf.common import (
    CpuMeter,
    Figure,
    OffsetWatch,
    Progress,
    Section,
    poll_until,
    profiled,
    replica_processes,
    unique_tag,
)
from tests.stack import LocalStack

SCALE_OUT = 2  # audit processes for the scale-out figure


async def _rows(conn: AsyncConnection, exact: bool) -> int:
    """Rows in the trail: exact (count(*), a scan), or the last row's seq, an index look-up
    that may run ahead of the count (a rolled-back batch leaves a gap) but never behind. The
    bench polls with the cheap one, so that it takes no server time from the service."""
    exists = await (await conn.execute("SELECT to_regclass('audit_row') IS NOT NULL")).fetchone()
    if not exists or not exists[0]:
        return 0
    query = "SELECT count(*) FROM audit_row" if exact else "SELECT max(seq) FROM audit_row"
    row = await (await conn.execute(query.encode())).fetchone()
    return int(row[0] or 0) if row else 0


class _Progress:
    """When rows began to arrive (and how many there were), when the last came, and the
    cores busy in between: this process, Kafka, and the service's PostgreSQL backend."""

    def __init__(self, conn: AsyncConnection, count: int) -> None:
        self.conn, self.count = conn, count
        self.first: tuple[float, int] | None = None
        self.done = 0.0
        self.meter: CpuMeter | None = None

    async def start(self, processes: dict[str, int]) -> None:
        """Count from now, metering `processes` (the replicas) and every service backend."""
        self.first = (time.perf_counter(), await _rows(self.conn, exact=False))
        self.meter = CpuMeter(processes | await self._backends())

    async def all_rows(self) -> bool:
        rows = await _rows(self.conn, exact=False)
        if self.first is None and rows:
            self.first = (time.perf_counter(), rows)
            self.meter = CpuMeter(await self._backends())
        if rows < self.count or await _rows(self.conn, exact=True) < self.count:
            return False
        self.done = time.perf_counter()
        return True

    async def _backends(self) -> dict[str, int]:
        """The services' PostgreSQL backends (every client of the database but this one)."""
        cursor = await self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND"
            " backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY backend_start"
        )
        pids = [int(row[0]) for row in await cursor.fetchall()]
        names = ["postgres_backend"] + [f"postgres_backend_{n}" for n in range(2, len(pids) + 1)]
        return dict(zip(names, pids, strict=False))

    def rate(self) -> float:
        assert self.first is not None, "no row before the last"
        return (self.count - self.first[1]) / (self.done - self.first[0])


def audit_settings(stack: LocalStack, tag: str, dsn: str) -> Settings:
    """The audit service's settings for one bench run: its own topics, group and database."""
    topics = Topics(**{f.name: f"{getattr(Topics(), f.name)}.{tag}" for f in fields(Topics)})
    return Settings(
        config_dir=CONFIG,
        kafka_bootstrap=stack.kafka_bootstrap,
        redis_url=stack.redis_url,
        topics=topics,
        audit_group=f"audit-{tag}",
        audit_dsn=SecretStr(dsn),
    )


async def ingest(
    stack: LocalStack, count: int, profile: bool = False, replicas: int = 1
) -> tuple[float, dict[str, Any]]:
    """Records/s of the audit service from full topics to rows: one service in this
    process, or `replicas` processes in one consumer group, counted from the moment the
    group is Stable with all of them (their start-up rebalances left out, as the engine's)."""
    tag = unique_tag().replace("-", "_")
    dsn = database(stack, f"duban_{tag}", create=True)
    settings = audit_settings(stack, tag, dsn)
    try:
        await fill(stack.kafka_bootstrap, settings.topics, events(count))
        started = time.perf_counter()
        async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
            progress = _Progress(conn, count)
            if replicas == 1:
                async with profiled("audit", profile), running(create_audit(settings).app):
                    await wait_for(progress.all_rows, timeout_s=600, what="every audit row")
                    cores = progress.meter.cores() if progress.meter else {}
            else:
                cores = await _replicas_ingest(settings, dsn, tag, replicas, progress)
        assert progress.first is not None, "no row before the last"
        return progress.rate(), {
            "records": count,
            "seconds_from_start": round(progress.done - started, 2),  # topics, schema, join
            "records_per_s_from_start": round(count / (progress.done - started)),
            "seconds_from_first_row": round(progress.done - progress.first[0], 2),
            "cores_from_first_row": cores,
        }
    finally:
        database(stack, f"duban_{tag}", create=False)


async def _replicas_ingest(
    settings: Settings, dsn: str, tag: str, replicas: int, progress: _Progress
) -> dict[str, float]:
    """Run the replicas until every row is in; the cores busy from the Stable group on."""
    watch = OffsetWatch(settings.kafka_bootstrap)
    async with watch, replica_processes("tests.perf.audit_replica", [tag, dsn], replicas) as pids:
        group = settings.audit_group
        await poll_until(lambda: watch.stable_members(group), replicas, Progress(), 60)
        await progress.start(pids)
        await wait_for(progress.all_rows, timeout_s=600, what="every audit row")
        assert progress.meter is not None
        return progress.meter.cores()


async def floor(stack: LocalStack, count: int) -> float:
    """Rows/s of one plain INSERT (and commit) per row, for the same rows."""
    name = f"duban_floor_{uuid.uuid4().hex[:8]}"
    dsn = database(stack, name, create=True)
    try:
        async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
            await migrate(conn)
            topics, limits, retention = Topics(), InputLimits(), Retention()
            records = [
                AuditRecord(value, getattr(topics, field), 0, n, key)
                for n, (field, key, value) in enumerate(events(count))
            ]
            started = time.perf_counter()
            heads: dict[str, Any] = {}
            for record in records:
                entry = entry_of(record, topics, limits)
                assert entry is not None
                row = seal(entry, heads.get(entry.subject), T0, retention.keep_until("notice", T0))
                heads[entry.subject] = row
                values = [column[0] for column in columns([row])]
                await conn.execute(
                    "INSERT INTO audit_row (event_id, source, subject, root, record_class, type,"
                    " occurred_at, recorded_at, keep_until, origin, body, chain_no, prev_hash,"
                    " hash) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    values,
                )
            return count / (time.perf_counter() - started)
    finally:
        database(stack, name, create=False)


async def run(
    stack: LocalStack, records: int, floor_rows: int, loaded: int, profile: bool = False
) -> Section:
    """The audit section of `make bench`."""
    section = Section(f"audit trail (PostgreSQL; {loaded:,} rows loaded for trace)")
    rate, details = await ingest(stack, records, profile)
    rate_two, details_two = await ingest(stack, records, replicas=SCALE_OUT)
    floor_rate = await floor(stack, floor_rows)
    section.figures.append(
        Figure(
            "audit ingest",
            round(rate),
            "records/s",
            f"{records:,} records pre-filled on Kafka → rows, first row to last "
            "(parse, chain, COPY)",
            target=20_000,
            note=f"plain INSERT per row: {floor_rate:,.0f} rows/s ({floor_rows:,} rows)",
        )
    )
    section.figures.append(
        Figure(
            f"audit ingest, {SCALE_OUT} processes",
            round(rate_two),
            "records/s",
            f"as above, {SCALE_OUT} audit processes in one consumer group, counted from the "
            "moment the group is Stable; reported, not judged",
        )
    )
    details[f"processes_{SCALE_OUT}"] = details_two
    try:  # a failure here keeps the ingest figures
        median, trace_details = await trace_ms(stack, loaded)
    except Exception as e:
        section.error = f"trace: {type(e).__name__}: {e}"
        section.details.update(ingest=details, floor_rows_per_s=round(floor_rate))
        return section
    section.figures.append(
        Figure(
            "duban trace, one subject",
            round(median, 2),
            "ms",
            f"median of {TRACE_RUNS} (story query + build), {loaded:,} filler rows",
            target=50,
            higher_is_better=False,
        )
    )
    section.details.update(ingest=details, floor_rows_per_s=round(floor_rate), trace=trace_details)
    return section
