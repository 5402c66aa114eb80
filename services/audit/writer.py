"""Appending to the trail on PostgreSQL: one transaction per batch, chains kept per subject.

A batch takes the advisory locks of its subjects' buckets (sorted: no deadlock between
replicas), drops the events already kept (the unique event key makes a replay add
nothing), reads the subjects' chain heads, seals the rows, and writes person versions,
rows (binary COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING),
person versions and the new heads.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Sequence

import psycopg
from psycopg import AsyncConnection

from services.audit.chain import Head, Row, seal
from services.audit.retention import Retention
from services.audit.rows import Entry, canonical
from services.clock import Clock

LOCK_BUCKETS = 1024
_LOCK_BASE = 7_310_000_000  # pg advisory lock keys of the chain buckets

COLUMNS = (
    "event_id",
    "source",
    "subject",
    "root",
    "record_class",
    "type",
    "occurred_at",
    "recorded_at",
    "keep_until",
    "origin",
    "body",
    "chain_no",
    "prev_hash",
    "hash",
)
_NAMES = ", ".join(COLUMNS)
# COPY into a per-connection staging table, then one INSERT … SELECT: text arrays of JSON
# bodies (unnest) cost ten times as much to send and parse as COPY's rows.
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS audit_stage (LIKE audit_row INCLUDING DEFAULTS)
ON COMMIT DELETE ROWS
"""
_COPY = f"COPY audit_stage ({_NAMES}) FROM STDIN (FORMAT BINARY)"
_TYPES = ["text"] * 6 + ["timestamptz"] * 3 + ["text", "text", "int8", "bytea", "bytea"]
_INSERT_ROWS = f"""
INSERT INTO audit_row ({_NAMES}) SELECT {_NAMES} FROM audit_stage ORDER BY seq
ON CONFLICT (event_id, source) DO NOTHING
"""
_INSERT_PEOPLE = """
INSERT INTO person_version (digest, person_id, details, first_seen)
SELECT d, p, x, %s FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(d, p, x)
ON CONFLICT (digest) DO NOTHING
"""
_UPSERT_HEADS = """
INSERT INTO chain_head (subject, chain_no, hash)
SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bytea[])
ON CONFLICT (subject) DO UPDATE SET chain_no = EXCLUDED.chain_no, hash = EXCLUDED.hash
"""


def lock_key(subject: str) -> int:
    """The advisory lock that serializes appends to `subject`'s chain."""
    digest = hashlib.blake2b(subject.encode(), digest_size=8).digest()
    return _LOCK_BASE + int.from_bytes(digest) % LOCK_BUCKETS


class Connector:
    """One PostgreSQL connection, opened when first needed and again after it broke."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await AsyncConnection.connect(self.dsn, autocommit=True)
        return self._conn

    @contextlib.asynccontextmanager
    async def using(self) -> AsyncIterator[AsyncConnection]:
        """The connection; a lost connection is raised as ConnectionError (an OSError:
        the record guard waits and redelivers instead of blaming the records)."""
        try:
            yield await self.get()
        except psycopg.OperationalError as e:
            await self.aclose()
            raise ConnectionError(f"PostgreSQL: {type(e).__name__}") from e

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class TrailWriter:
    """Appends entries to the trail; returns how many rows were new."""

    def __init__(self, connector: Connector, retention: Retention, clock: Clock) -> None:
        self.connector = connector
        self.retention = retention
        self.clock = clock
        self.last_batch_s = 0.0

    async def append(self, entries: Sequence[Entry]) -> int:
        """Append the entries not kept yet, in their order."""
        unique = first_of_each(entries)
        if not unique:
            return 0
        started = time.perf_counter()
        async with self.connector.using() as conn, conn.transaction():
            rows = await self._sealed(conn, unique)
            if rows:
                await self._write(conn, unique, rows)
        self.last_batch_s = time.perf_counter() - started
        return len(rows)

    async def _sealed(self, conn: AsyncConnection, entries: list[Entry]) -> list[Row]:
        subjects = sorted({e.subject for e in entries})
        keys = sorted({lock_key(s) for s in subjects})
        await conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) k", (keys,))
        cursor = await conn.execute(
            "SELECT event_id, source FROM audit_row WHERE event_id = ANY(%s)",
            ([e.event_id for e in entries],),
        )
        kept = {(row[0], row[1]) for row in await cursor.fetchall()}
        fresh = [e for e in entries if (e.event_id, e.source) not in kept]
        cursor = await conn.execute(
            "SELECT subject, chain_no, hash FROM chain_head WHERE subject = ANY(%s)",
            (sorted({e.subject for e in fresh}),),
        )
        heads = {row[0]: Head(row[1], bytes(row[2])) for row in await cursor.fetchall()}
        now = self.clock.now()
        rows = []
        for entry in fresh:
            keep = self.retention.keep_until(entry.record_class, entry.occurred_at)
            row = seal(entry, heads.get(entry.subject), now, keep)
            heads[entry.subject] = Head(row.chain_no, row.hash)
            rows.append(row)
        return rows

    async def _write(self, conn: AsyncConnection, entries: list[Entry], rows: list[Row]) -> None:
        people = {p.digest: p for e in entries for p in e.people}
        if people:
            versions = list(people.values())
            await conn.execute(
                _INSERT_PEOPLE,
                (
                    self.clock.now(),
                    [p.digest for p in versions],
                    [p.person_id for p in versions],
                    [canonical(p.details) for p in versions],
                ),
            )
        await conn.execute(_STAGE.encode())
        async with conn.cursor() as cursor, cursor.copy(_COPY.encode()) as copy:
            copy.set_types(_TYPES)
            for row in rows:
                await copy.write_row([getattr(row, name) for name in COLUMNS])
        await conn.execute(_INSERT_ROWS.encode())
        last = {r.subject: r for r in rows}
        await conn.execute(
            _UPSERT_HEADS,
            (list(last), [r.chain_no for r in last.values()], [r.hash for r in last.values()]),
        )


def first_of_each(entries: Sequence[Entry]) -> list[Entry]:
    """The first entry of each event, in arrival order."""
    seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        seen.setdefault((entry.event_id, entry.source), entry)
    return list(seen.values())


def columns(rows: Sequence[Row]) -> tuple[list[object], ...]:
    """The rows as column lists (COLUMNS' order)."""
    return tuple([getattr(r, name) for r in rows] for name in COLUMNS)
