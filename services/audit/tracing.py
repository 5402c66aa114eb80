"""A subject's whole story: the trail's rows (PostgreSQL) and the engine's plan (Redis)."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.audit.naming import Naming
from services.audit.planned import Planned, planned
from services.audit.reader import digests_of, people, story
from services.audit.rows import root_of_notice
from services.audit.story import Story, build_story


class NoTrail(RuntimeError):
    """The database has no audit trail (the audit service never ran against it)."""


async def require_trail(conn: AsyncConnection) -> None:
    """NoTrail unless the trail's schema is there (one round trip)."""
    cursor = await conn.execute("SELECT to_regclass('audit_row') IS NOT NULL")
    found = await cursor.fetchone()
    if not found or not found[0]:
        raise NoTrail(
            "审计库还没有建立：请先运行 `duban run audit` "
            "(no audit trail in this database; start `duban run audit` first)"
        )


async def trace(
    conn: AsyncConnection,
    redis: Redis | None,
    naming: Naming,
    subject: str,
    now: datetime,
    unmasked: bool = False,
) -> tuple[Story, Planned]:
    """The story of `subject` (a hazard, unit, task or notice id) and what comes next."""
    await require_trail(conn)
    rows = await story(conn, subject)
    contacts = await people(conn, digests_of(rows))
    found = build_story(subject, rows, contacts, naming.label, unmasked)
    plan = Planned()
    if redis is not None:
        hazard = root_of_notice(subject) or subject
        try:
            plan = await planned(redis, naming.rules, hazard, now, naming.label)
        except RedisError:  # the trail alone still tells the story
            plan = Planned()
    found.planned = plan.steps
    if not found.title and plan.state is not None:
        found.title = plan.state.title
    return found, plan
