"""The trail writer on PostgreSQL: batches without repeats are written without looking for
them, a batch with repeats is rolled back and written again looking, and either way every
event is kept once, with whole chains and heads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from psycopg import AsyncConnection

from services.audit.reader import heads, verify_trail
from services.audit.retention import Retention
from services.audit.rows import Entry, person_version
from services.audit.schema import migrate
from services.audit.writer import Connector, TrailWriter
from services.clock import SystemClock
from tests.integration.auditkit import audit_dsn, count, trail

__all__ = ["audit_dsn", "trail"]  # fixtures used here
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
PERSON = person_version("P1", {"name": "张三", "mobile": "13700000001"})


def entry(subject: str, n: int) -> Entry:
    return Entry(
        event_id=f"{subject}-{n}",
        source="urn:test",
        subject=subject,
        root=subject,
        record_class="notice",
        type="notice.requested",
        occurred_at=T0,
        origin=f"notice.requested[0]@{n}",
        body=f'{{"n":{n}}}',
        people=(PERSON,),
    )


async def chain_numbers(conn: AsyncConnection) -> dict[str, list[int]]:
    cursor = await conn.execute("SELECT subject, chain_no FROM audit_row ORDER BY seq")
    found: dict[str, list[int]] = {}
    for subject, chain_no in await cursor.fetchall():
        found.setdefault(subject, []).append(chain_no)
    return found


async def test_repeats_are_kept_once_whether_looked_for_or_refused(
    audit_dsn: str, trail: AsyncConnection
) -> None:
    await migrate(trail)
    writer = TrailWriter(Connector(audit_dsn), Retention(), SystemClock())
    a1, a2, a3, b1, b2 = entry("A", 1), entry("A", 2), entry("A", 3), entry("B", 1), entry("B", 2)

    assert writer.looking  # after a start, the first batch may be a redelivery
    assert await writer.append([a1, a2, b1]) == 3
    assert not writer.looking  # none was kept: the next batch does not look
    assert await writer.append([a2, a3]) == 1  # a2 refused by the key: rolled back, looked
    assert writer.looking  # a run of repeats: keep looking
    assert await writer.append([b2]) == 1
    assert not writer.looking
    assert await writer.append([b2, a1, b2]) == 0

    assert await count(trail) == 5
    assert await chain_numbers(trail) == {"A": [1, 2, 3], "B": [1, 2]}
    assert {s: h.chain_no for s, h in (await heads(trail)).items()} == {"A": 3, "B": 2}
    verdict = await verify_trail(trail)
    assert verdict.problems == [] and verdict.rows == 5 and verdict.people == 1
    await writer.connector.aclose()


async def test_an_event_id_reused_under_another_subject_is_not_appended_again(
    audit_dsn: str, trail: AsyncConnection
) -> None:
    await migrate(trail)
    writer = TrailWriter(Connector(audit_dsn), Retention(), SystemClock())
    first = entry("A", 1)
    assert await writer.append([first]) == 1
    reused = replace(first, subject="C", root="C")
    assert await writer.append([reused, entry("C", 2)]) == 1
    assert await chain_numbers(trail) == {"A": [1], "C": [1]}
    assert (await verify_trail(trail)).problems == []
    await writer.connector.aclose()


async def test_subjects_and_ids_of_any_text_find_their_heads_and_repeats(
    audit_dsn: str, trail: AsyncConnection
) -> None:
    await migrate(trail)
    writer = TrailWriter(Connector(audit_dsn), Retention(), SystemClock())
    odd = ['say "hi"', "back\\slash", "{braces,comma}", "NULL", "空 格"]
    assert await writer.append([entry(s, 1) for s in odd]) == len(odd)
    assert not writer.looking
    again = [entry(s, 1) for s in odd] + [entry(s, 2) for s in odd]
    assert await writer.append(again) == len(odd)  # refused, then looked: the repeats found
    assert await chain_numbers(trail) == {s: [1, 2] for s in odd}  # heads found: no restart
    assert (await verify_trail(trail)).problems == []
    await writer.connector.aclose()
