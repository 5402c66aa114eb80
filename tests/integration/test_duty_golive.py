"""Duties at go-live on the real stack: a unit registered mid-period, before the period's
reminder, is reminded of the current period (not only from the next one)."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from services.core.duties import DutyState
from services.engine.app import create_engine
from services.runner import running
from services.settings import Settings
from services.store.keys import TIMERS_KEY, duty_key
from tests.fakes import FakeClock
from tests.helpers import at, unit_upserted
from tests.integration.conftest import read_topic, wait_for

NOTICE = "duty:U1:principal_inspection:2026-Q3:r1"


async def _state(redis: Redis) -> DutyState | None:
    raw = await redis.hget(duty_key("principal_inspection", "U1"), "s")
    return DutyState.model_validate_json(raw) if raw is not None else None


async def _decided(redis: Redis, key: str) -> bool:
    state = await _state(redis)
    return state is not None and key in state.sent


async def _published(settings: Settings, notice_id: str) -> list[dict]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 1)
    data = [json.loads(r.value)["data"] for r in records]
    return [n for n in data if n["notice_id"] == notice_id]


async def test_a_unit_registered_mid_quarter_gets_the_current_quarters_reminder(
    settings: Settings, clock: FakeClock, redis: Redis, register_unit
) -> None:
    # 2026-09-01 10:00: mid-Q3, the Q3 reminder (7 days before the end) is on 09-24.
    async with running(create_engine(settings, clock=clock).app):
        await register_unit(unit_upserted("U1", at("2026-09-01 08:00"), industry="construction"))
        await wait_for(lambda: _state(redis), what="the unit's duty state")
        assert await redis.zscore(TIMERS_KEY, "duty:principal_inspection:U1") is not None
        clock.set(at("2026-09-24 09:00"))
        await wait_for(lambda: _decided(redis, "2026-Q3:r1"), what="the Q3 reminder decided")
        # Published before the state was committed: on the topic by now.
        sent = await _published(settings, NOTICE)
    assert [(n["kind"], n["action"], n["recipient"]["person_id"]) for n in sent] == [
        ("duty", None, "R1")  # the principal, once
    ]
    assert sent[0]["facts"]["period_key"] == "2026-Q3"
