"""`duban trace` of one subject with millions of rows loaded: the table filled
server-side (generate_series) with filler rows over many subjects, the subject's own
story appended by the real writer, then `trace` (the story query plus building the
story, without Redis) timed; the median of repeated runs is reported."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from psycopg import AsyncConnection

from contracts.registry import InputLimits
from contracts.topics import Topics
from services.audit.naming import naming
from services.audit.retention import Retention
from services.audit.rows import AuditRecord, entry_of
from services.audit.schema import migrate
from services.audit.tracing import trace
from services.audit.writer import Connector, TrailWriter
from services.clock import SystemClock
from tests.perf.audit_events import CONFIG, EXAMPLES, T0, database, events
from tests.stack import LocalStack

TRACE_RUNS = 30


_FILLER = """
INSERT INTO audit_row (event_id, source, subject, root, record_class, type, occurred_at,
    recorded_at, keep_until, origin, body, chain_no, prev_hash, hash)
SELECT 'f-' || g, 'urn:bench', 'hazard:F' || (g / 10) || ':r:s:x', 'F' || (g / 10),
    'notice', 'notice.requested', %(t0)s + g * interval '1 second', %(t0)s, %(t0)s,
    'bench', %(body)s, g %% 10 + 1, '\\x00'::bytea, '\\x00'::bytea
FROM generate_series(%(start)s::bigint, %(end)s::bigint) AS g
"""


async def trace_ms(stack: LocalStack, loaded: int) -> tuple[float, dict[str, Any]]:
    """Median ms of `trace` of one subject with `loaded` rows in the table."""
    name = f"duban_trace_{uuid.uuid4().hex[:8]}"
    dsn = database(stack, name, create=True)
    try:
        async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
            await migrate(conn)
            body = (EXAMPLES / "notice.requested.json").read_text(encoding="utf-8")
            fill_started = time.perf_counter()
            step = 500_000
            for start in range(0, loaded, step):
                end = min(loaded, start + step) - 1
                params = {"t0": T0, "body": body, "start": start, "end": end}
                await conn.execute(_FILLER.encode(), params)
            await conn.execute("ANALYZE audit_row")
            filled = time.perf_counter() - fill_started
            subject_rows = await _story(dsn)
            names = naming(CONFIG)
            times = []
            for _ in range(TRACE_RUNS):
                started = time.perf_counter()
                story, _plan = await trace(conn, None, names, "HZ-BENCH", T0)
                times.append((time.perf_counter() - started) * 1000)
            assert len(story.steps) == subject_rows
        details = {
            "rows_loaded": loaded + subject_rows,
            "subject_rows": subject_rows,
            "fill_seconds": round(filled, 1),
            "runs": TRACE_RUNS,
            "p90_ms": round(sorted(times)[int(0.9 * TRACE_RUNS)], 2),
        }
        return statistics.median(times), details
    finally:
        database(stack, name, create=False)


async def _story(dsn: str) -> int:
    """Append a hazard's story (report, notices, receipts) with the real writer."""
    topics, limits = Topics(), InputLimits()
    story = events(60)
    records = []
    for n, (field, key, value) in enumerate(story):
        text = value.decode().replace("HZ-0", "HZ-BENCH").replace("HZ-1", "HZ-BENCH")
        records.append(AuditRecord(text.encode(), getattr(topics, field), 0, n, key))
    entries = [e for r in records if (e := entry_of(r, topics, limits)) is not None]
    writer = TrailWriter(Connector(dsn), Retention(), SystemClock())
    await writer.append(entries)
    await writer.connector.aclose()
    return len(entries)
