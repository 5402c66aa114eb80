"""Reading the trail back: a subject's rows, a story's rows, a period's notices, and the
whole trail checked against its hashes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection

from services.audit.chain import Head, Problem, Row, verify
from services.audit.rows import canonical

COLUMNS = (
    "seq, event_id, source, subject, root, record_class, type, occurred_at, recorded_at,"
    " keep_until, origin, body, chain_no, prev_hash, hash"
)
FETCH_ROWS = 10_000


def row_of(values: Sequence[Any]) -> Row:
    """A Row from the columns of COLUMNS."""
    v = list(values)
    return Row(
        seq=v[0],
        event_id=v[1],
        source=v[2],
        subject=v[3],
        root=v[4],
        record_class=v[5],
        type=v[6],
        occurred_at=v[7],
        recorded_at=v[8],
        keep_until=v[9],
        origin=v[10],
        body=v[11],
        chain_no=v[12],
        prev_hash=bytes(v[13]),
        hash=bytes(v[14]),
    )


async def rows_in_chain_order(
    conn: AsyncConnection, subject: str | None = None
) -> AsyncIterator[Row]:
    """Every row (or one subject's) in (subject, seq) order, streamed from the server."""
    where, params = ("WHERE subject = %s", (subject,)) if subject else ("", ())
    query = f"SELECT {COLUMNS} FROM audit_row {where} ORDER BY subject, seq"
    async with conn.transaction():
        cursor = conn.cursor(name="duban_verify")
        await cursor.execute(query.encode(), params)
        while batch := await cursor.fetchmany(FETCH_ROWS):
            for values in batch:
                yield row_of(values)
        await cursor.close()


async def heads(conn: AsyncConnection, subject: str | None = None) -> dict[str, Head]:
    """The recorded chain heads."""
    where, params = ("WHERE subject = %s", (subject,)) if subject else ("", ())
    cursor = await conn.execute(
        f"SELECT subject, chain_no, hash FROM chain_head {where}".encode(), params
    )
    return {r[0]: Head(r[1], bytes(r[2])) for r in await cursor.fetchall()}


@dataclass
class Verdict:
    """What `duban audit verify` found."""

    rows: int = 0
    people: int = 0
    problems: list[str] = field(default_factory=list)


async def verify_trail(conn: AsyncConnection, subject: str | None = None) -> Verdict:
    """Check every row's hash and link, every chain's end, every person version; one
    subject's rows in memory at a time."""
    verdict = Verdict()
    recorded = await heads(conn, subject)
    found: list[Problem] = []
    chunk: list[Row] = []
    seen: set[str] = set()
    async for row in rows_in_chain_order(conn, subject):
        verdict.rows += 1
        if chunk and row.subject != chunk[0].subject:
            found += verify(chunk, _only(recorded, chunk[0].subject))
            chunk = []
        seen.add(row.subject)
        chunk.append(row)
    if chunk:
        found += verify(chunk, _only(recorded, chunk[0].subject))
    found += verify([], {k: v for k, v in recorded.items() if k not in seen})
    verdict.problems = [str(p) for p in found]
    verdict.people, bad_people = await _verify_people(conn)
    verdict.problems += bad_people
    return verdict


def _only(recorded: dict[str, Head], subject: str) -> dict[str, Head]:
    return {subject: recorded[subject]} if subject in recorded else {}


async def _verify_people(conn: AsyncConnection) -> tuple[int, list[str]]:
    cursor = await conn.execute("SELECT digest, person_id, details FROM person_version")
    problems = []
    count = 0
    for digest, person_id, details in await cursor.fetchall():
        count += 1
        recomputed = canonical({"person_id": person_id, **orjson.loads(details)})
        if hashlib.sha256(recomputed.encode()).hexdigest() != digest:
            problems.append(f"联系人版本 {digest[:12]}（{person_id}）：内容被改动 (altered)")
    return count, problems


async def story(conn: AsyncConnection, subject: str) -> list[Row]:
    """Every row of a hazard's, unit's, task's or notice's story, in time order: its own
    events, the notices about it, and those notices' receipts and acknowledgements."""
    # One index lookup per branch (root; subject; the notices' subjects): an OR of the
    # three would scan the whole table.
    query = f"""
        WITH notices AS (
            SELECT DISTINCT subject FROM audit_row
            WHERE root = %(id)s AND type = 'notice.requested'
        ), found AS (
            SELECT seq FROM audit_row WHERE root = %(id)s
            UNION SELECT seq FROM audit_row WHERE subject = %(id)s
            UNION SELECT a.seq FROM audit_row a JOIN notices n ON a.subject = n.subject
        )
        SELECT {COLUMNS} FROM audit_row WHERE seq IN (SELECT seq FROM found)
        ORDER BY occurred_at, seq
    """
    cursor = await conn.execute(query.encode(), {"id": subject})
    return [row_of(values) for values in await cursor.fetchall()]


async def notices_between(conn: AsyncConnection, start: datetime, end: datetime) -> list[Row]:
    """The notices decided in [start, end), with every receipt and acknowledgement of them."""
    query = f"""
        WITH notices AS (
            SELECT DISTINCT subject FROM audit_row
            WHERE record_class = 'notice' AND occurred_at >= %(start)s AND occurred_at < %(end)s
        )
        SELECT {COLUMNS} FROM audit_row
        WHERE subject IN (SELECT subject FROM notices)
        ORDER BY occurred_at, seq
    """
    cursor = await conn.execute(query.encode(), {"start": start, "end": end})
    return [row_of(values) for values in await cursor.fetchall()]


async def people(conn: AsyncConnection, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The contact details of person versions, by digest."""
    if not digests:
        return {}
    cursor = await conn.execute(
        "SELECT digest, details FROM person_version WHERE digest = ANY(%s)", (list(digests),)
    )
    return {d: orjson.loads(details) for d, details in await cursor.fetchall()}


def digests_of(rows: Sequence[Row]) -> list[str]:
    """The person versions the notices among `rows` were sent to."""
    found = []
    for row in rows:
        if row.type == "notice.requested":
            recipient = orjson.loads(row.body)["data"].get("recipient") or {}
            found.append(str(recipient.get("person_version", "")))
    return found
