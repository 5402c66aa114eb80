"""The audit consumer on the real stack: valid records become rows, garbage on duban's own
topics is dead-lettered (and the dead letter kept in the trail with its reason), an inbound
event the engine refuses is left to the dead-letter topic, and the chains verify."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from services.audit.app import create_audit
from services.audit.reader import verify_trail
from services.runner import running
from services.settings import Settings
from tests.integration.auditkit import audit_dsn, audit_settings, count, trail
from tests.integration.conftest import wait_for

__all__ = ["audit_dsn", "audit_settings", "trail"]  # fixtures used here
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
RECEIPTS = 12


def example(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return {**event, **changes}


async def test_garbage_is_dead_lettered_and_the_rest_kept(
    audit_settings: Settings,
    publish: Callable[[str, dict[str, Any] | bytes], Awaitable[None]],
    trail: AsyncConnection,
) -> None:
    topics = audit_settings.topics
    parts = create_audit(audit_settings)
    async with running(parts.app):
        for n in range(RECEIPTS // 2):
            await publish(topics.notice_receipts, example("notice.delivered", id=f"d-{n}"))
        await publish(topics.notice_receipts, b"\xff not an event")
        await publish(topics.hazard_events, example("hazard.progress", subject="other"))
        for n in range(RECEIPTS // 2, RECEIPTS):
            await publish(topics.notice_receipts, example("notice.delivered", id=f"d-{n}"))
        await wait_for(
            lambda: _at_least(trail, "record_class = 'dead_letter'", 1),
            timeout_s=60,
            what="the garbage's dead letter kept",
        )
        await wait_for(
            lambda: _at_least(trail, "type = 'notice.delivered'", RECEIPTS),
            what="every receipt kept",
        )
    assert await count(trail, "type = 'notice.delivered'") == RECEIPTS
    assert await count(trail, "type = 'hazard.progress'") == 0  # the engine's to refuse
    cursor = await trail.execute("SELECT body FROM audit_row WHERE record_class = 'dead_letter'")
    [(body,)] = await cursor.fetchall()
    assert "not JSON" in json.loads(body)["reason"]
    assert (await verify_trail(trail)).problems == []


async def _at_least(conn: AsyncConnection, where: str, n: int) -> bool:
    return await count(conn, where) >= n
