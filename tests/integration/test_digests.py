"""Digests and duties on the real stack: two engine replicas, one digest per period."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import AsyncExitStack
from datetime import date

from redis.asyncio import Redis

from services.engine.app import create_engine
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import read_topic, wait_for


async def test_two_replicas_send_one_weekly_digest_with_the_counts(
    settings: Settings, clock: FakeClock, redis: Redis, publish, register_unit
) -> None:
    async with AsyncExitStack() as replicas:
        for _ in range(2):
            await replicas.enter_async_context(running(create_engine(settings, clock=clock).app))
        await wait_for(lambda: redis.exists("duban:digest:weekly"), what="digest bootstrap")
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        for i in range(3):
            await publish(
                settings.topics.hazard_events,
                reported(f"H{i}", at("2026-09-01 09:00"), date(2026, 9, 4)),
            )
        await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 6)
        clock.set(at("2026-09-07 09:00"))  # Monday: the weekly digest of 2026-W36 is due
        await wait_for(lambda: _digest_sent(redis, "2026-W36"), what="the weekly digest")
        records = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 8)
    notices = [json.loads(r.value)["data"] for r in records]
    digests = [n for n in notices if n["kind"] == "digest"]
    # To the committee office, and posted once in the officials' work-chat group.
    assert [(n["notice_id"], n["recipient"]["person_id"]) for n in digests] == [
        ("digest:weekly:2026-W36", "aqb-duty"),
        ("digest:weekly:2026-W36", "group-wecom"),
    ]
    assert digests[0]["facts"]["totals"] == {"reported": 3, "closed": 0, "open": 3, "overdue": 3}
    keys = Counter((n["notice_id"], n["occurrence"], n["recipient"]["person_id"]) for n in notices)
    assert set(keys.values()) == {1}, "a notice was published twice"


async def _digest_sent(redis: Redis, period_key: str) -> bool:
    raw = await redis.hget("duban:digest:weekly", "s")
    return raw is not None and period_key in json.loads(raw)["sent"]
