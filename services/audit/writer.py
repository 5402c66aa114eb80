"""Appending to the trail on PostgreSQL: one transaction per call, chains kept per subject.

Entries are first made ready to be sealed (`prepare`: their canonical content, no I/O).
A call then takes the advisory locks of its subjects' buckets (sorted: no deadlock
between replicas), drops the events already kept (the unique event key makes a replay
add nothing), reads the subjects' chain heads, seals the rows (a hash each), and writes
person versions, the new heads and the rows (binary COPY). The reads go in one round
trip, and so do the two small writes. Lists travel as one JSON (or array) text each:
psycopg's per-item adaptation of Python lists costs more than all the rest.

An event appended twice at once by two replicas is under the same lock (its subject's),
so the second sees the first; only if a publisher reused an event id under another
subject could both pass, and then the unique event key refuses the second batch whole
(nothing is skipped silently: the record guard retries its records one by one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.string import BytesBinaryDumper

from services.audit.chain import GENESIS, Row, Sealable, Sealer, sealed
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
EVENT_KEY = "audit_row_event"  # the unique (event_id, source) constraint
_COPY = f"COPY audit_row ({_NAMES}) FROM STDIN (FORMAT BINARY)".encode()
_TYPES = ["text"] * 6 + ["timestamptz"] * 3 + ["text", "text", "int8", "bytea", "bytea"]
_LOCK = b"SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k"
# The two reads are planned at each call (never prepared), with their lists as array
# constants: the planner then knows how many keys it looks up and how large the table has
# grown. A plan kept from when the table was small scans it whole for every call.
_KEPT = b"""
SELECT a.event_id, a.source FROM unnest(%s::text[], %s::text[]) AS k(event_id, source)
JOIN audit_row a ON a.event_id = k.event_id AND a.source = k.source
"""
# The heads, one primary-key look-up per subject: as a plain join the planner hashes the
# whole chain_head table for every call until it holds ~100k subjects (5 ms per call at
# 20k; the look-ups take 0.6 ms). LIMIT 1 (a subject has one head) keeps the look-up a
# subquery the planner does not flatten into that join.
_HEADS = b"""
SELECT c.subject, c.chain_no, c.hash FROM unnest(%s::text[]) AS k(subject)
CROSS JOIN LATERAL (
    SELECT h.subject, h.chain_no, h.hash FROM chain_head h WHERE h.subject = k.subject LIMIT 1
) AS c
"""
_INSERT_PEOPLE = b"""
INSERT INTO person_version (digest, person_id, details, first_seen)
SELECT p ->> 0, p ->> 1, p ->> 2, %s FROM json_array_elements(%s::json) AS j(p)
ON CONFLICT (digest) DO NOTHING
"""
_UPSERT_HEADS = b"""
INSERT INTO chain_head (subject, chain_no, hash)
SELECT h ->> 0, (h ->> 1)::bigint, decode(h ->> 2, 'hex') FROM json_array_elements(%s::json) AS j(h)
ON CONFLICT (subject) DO UPDATE SET chain_no = EXCLUDED.chain_no, hash = EXCLUDED.hash
"""

#: A subject's last row while a call seals: (chain_no, hash).
Heads = dict[str, tuple[int, bytes]]


@functools.lru_cache(maxsize=65_536)
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
            # bytea in the COPY by psycopg's C dumper: the one found by oid otherwise is
            # dbapi20's, in Python (it also takes Binary wrappers), called twice a row.
            self._conn.adapters.register_dumper(None, BytesBinaryDumper)
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
    """Appends entries to the trail; returns how many rows were new.

    Most calls hold no event the trail already keeps, so they write without looking:
    the unique event key refuses a repeat, and then the call is rolled back and made
    again looking first. Once a call met a repeat, the next ones look too until one
    holds none (a redelivery or a replay comes as a run of repeats). It starts looking:
    after a restart, the first batches are the ones redelivered."""

    def __init__(self, connector: Connector, retention: Retention, clock: Clock) -> None:
        self.connector = connector
        self.retention = retention
        self.clock = clock
        self.last_batch_s = 0.0
        self.looking = True

    def prepare(self, entries: Iterable[Entry]) -> list[Sealable]:
        """The entries made ready to be sealed: the costly part, done before any lock."""
        sealer = Sealer(self.clock.now())
        keep_until = self.retention.keep_until
        return [sealer.ready(e, keep_until(e.record_class, e.occurred_at)) for e in entries]

    async def append(self, entries: Sequence[Entry]) -> int:
        """Append the entries not kept yet, in their order, in one transaction."""
        return await self.write(self.prepare(entries))

    async def write(self, items: Sequence[Sealable]) -> int:
        """Append the prepared entries not kept yet, in their order, in one transaction."""
        seen: dict[tuple[str, str], Sealable] = {}
        for item in items:  # the first of each event, in arrival order
            seen.setdefault(_key(item.entry), item)
        unique = list(seen.values())
        if not unique:
            return 0
        started = time.perf_counter()
        written = 0
        if not self.looking:
            try:
                written = await self._append(unique, look=False)
            except UniqueViolation as e:
                if e.diag.constraint_name != EVENT_KEY:
                    raise
                self.looking = True
        if self.looking:
            written = await self._append(unique, look=True)
            self.looking = written < len(unique)
        self.last_batch_s = time.perf_counter() - started
        return written

    async def _append(self, items: list[Sealable], look: bool) -> int:
        async with self.connector.using() as conn, conn.transaction():
            kept, heads = await _read(conn, [i.entry for i in items], look)
            fresh = [i for i in items if _key(i.entry) not in kept] if kept else items
            if fresh:
                rows = self.sealed(fresh, heads)
                await _write(conn, [i.entry for i in fresh], rows, heads, self.clock)
        return len(fresh)

    @staticmethod
    def sealed(items: Sequence[Sealable], heads: Heads) -> list[tuple[Any, ...]]:
        """The rows (COLUMNS' values) of `items` after `heads`, which move along."""
        rows = []
        for item in items:
            subject = item.entry.subject
            chain_no, prev_hash = heads.get(subject, (0, GENESIS))
            row = sealed(item, chain_no + 1, prev_hash)
            heads[subject] = (chain_no + 1, row[-1])
            rows.append(row)
        return rows


async def _read(
    conn: AsyncConnection, entries: list[Entry], look: bool
) -> tuple[set[tuple[str, str]], Heads]:
    """Under the subjects' locks: the events already kept (if `look`), the subjects' heads."""
    subjects = sorted({e.subject for e in entries})
    keys = "{" + ",".join(map(str, sorted({lock_key(s) for s in subjects}))) + "}"
    kept_rows = None
    async with conn.pipeline():
        await conn.execute(_LOCK, (keys,))
        if look:
            events = (_array(e.event_id for e in entries), _array(e.source for e in entries))
            kept_rows = await conn.execute(_KEPT, events, prepare=False)
        head_rows = await conn.execute(_HEADS, (_array(subjects),), prepare=False)
    kept = {(r[0], r[1]) for r in await kept_rows.fetchall()} if kept_rows else set()
    heads = {row[0]: (row[1], bytes(row[2])) for row in await head_rows.fetchall()}
    return kept, heads


async def _write(
    conn: AsyncConnection,
    entries: list[Entry],
    rows: list[tuple[Any, ...]],
    heads: Heads,
    clock: Clock,
) -> None:
    """Person versions, the heads the rows leave and the rows themselves."""
    people = {p.digest: p for e in entries for p in e.people}
    touched = {e.subject for e in entries}
    async with conn.pipeline():
        if people:
            versions = ([p.digest, p.person_id, canonical(p.details)] for p in people.values())
            await conn.execute(_INSERT_PEOPLE, (clock.now(), _json(versions)))
        moved = ([s, heads[s][0], heads[s][1].hex()] for s in touched)
        await conn.execute(_UPSERT_HEADS, (_json(moved),))
    async with conn.cursor() as cursor, cursor.copy(_COPY) as copy:
        copy.set_types(_TYPES)  # bytea by the connection's dumper (Connector.get)
        for row in rows:
            await copy.write_row(row)


def _key(entry: Entry) -> tuple[str, str]:
    return (entry.event_id, entry.source)


def _array(texts: Iterable[str]) -> str:
    """A text[] literal: every element quoted, backslashes and quotes escaped."""
    quoted = ('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in texts)
    return "{" + ",".join(quoted) + "}"


def _json(items: Iterable[Any]) -> str:
    return orjson.dumps(list(items)).decode()


def first_of_each(entries: Sequence[Entry]) -> list[Entry]:
    """The first entry of each event, in arrival order."""
    seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        seen.setdefault((entry.event_id, entry.source), entry)
    return list(seen.values())


def columns(rows: Sequence[Row]) -> tuple[list[object], ...]:
    """The rows as column lists (COLUMNS' order)."""
    return tuple([getattr(r, name) for r in rows] for name in COLUMNS)
