"""The console's overview: open and overdue hazards (the engine's state in Redis), dead
letters and each channel's recent success rate (the trail)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson
from psycopg import AsyncConnection
from redis.asyncio import Redis

from services.audit.html import Page
from services.audit.naming import Naming
from services.core.state import OPEN_STATUSES, HazardState
from services.masking import redact
from services.store.keys import document_prefix
from services.store.scan import scan_documents

DEAD_LETTERS_SHOWN: Final = 50
_RATES: Final = """
SELECT body::jsonb -> 'data' ->> 'channel' AS channel,
       count(*) FILTER (WHERE type = 'notice.delivered') AS delivered,
       count(*) FILTER (WHERE type = 'notice.failed'
                        AND (body::jsonb -> 'data' ->> 'final')::boolean) AS failed
FROM audit_row
WHERE record_class = 'receipt' AND occurred_at >= %s
GROUP BY 1 ORDER BY 1
"""


@dataclass(frozen=True)
class Group:
    department: str
    region: str
    open: int
    overdue: int


@dataclass(frozen=True)
class Overdue:
    id: str
    title: str
    department: str
    region: str
    deadline: str
    days: int


@dataclass(frozen=True)
class Letter:
    at: str
    subject: str
    type: str
    reason: str


@dataclass(frozen=True)
class Rate:
    channel: str
    delivered: int
    failed: int
    rate: str


async def hazard_groups(
    redis: Redis, names: Naming, now: datetime
) -> tuple[list[Group], list[Overdue]]:
    """Open hazards counted by department and region, and the overdue ones."""
    counts: dict[tuple[str, str], list[int]] = {}
    overdue: list[Overdue] = []
    zone = names.rules.timing.zone
    for text in await scan_documents(redis, document_prefix("hazard") + "*"):
        state = HazardState.model_validate_json(text)
        if not state.known or state.status not in OPEN_STATUSES:
            continue
        department = _department(state, names)
        region = names.label("regions", state.unit.region) if state.unit else "（未知）"
        late = state.deadline is not None and state.deadline < now
        tally = counts.setdefault((department, region), [0, 0])
        tally[0] += 1
        tally[1] += int(late)
        if late and state.deadline is not None:
            days = (now.astimezone(zone).date() - state.deadline.astimezone(zone).date()).days
            deadline = state.deadline.astimezone(zone).strftime("%Y-%m-%d")
            overdue.append(
                Overdue(state.hazard_id, state.title, department, region, deadline, days)
            )
    groups = [Group(d, r, n, late) for (d, r), (n, late) in sorted(counts.items())]
    overdue.sort(key=lambda h: (-h.days, h.id))
    return groups, overdue


def _department(state: HazardState, names: Naming) -> str:
    if state.supervising_department:
        return names.label("departments", state.supervising_department)
    if state.unit is not None:
        return f"（按行业：{names.label('industries', state.unit.industry)}）"
    return "（未知）"


async def dead_letters(conn: AsyncConnection, page: Page) -> list[Letter]:
    """The newest dead letters with their reasons (masked)."""
    cursor = await conn.execute(
        "SELECT occurred_at, subject, type, body FROM audit_row"
        " WHERE record_class = 'dead_letter' ORDER BY seq DESC LIMIT %s",
        (DEAD_LETTERS_SHOWN,),
    )
    letters = []
    for at, subject, kind, body in await cursor.fetchall():
        reason = str(orjson.loads(body).get("reason", ""))
        letters.append(Letter(page.when(at), subject, kind, redact(reason, limit=300)))
    return letters


async def channel_rates(conn: AsyncConnection, since: datetime) -> list[Rate]:
    """Each channel's delivered and finally failed receipts since `since`."""
    cursor = await conn.execute(_RATES, (since,))
    rates = []
    for channel, delivered, failed in await cursor.fetchall():
        total = delivered + failed
        rate = f"{100 * delivered / total:.1f}%" if total else "—"
        rates.append(Rate(str(channel), delivered, failed, rate))
    return rates
