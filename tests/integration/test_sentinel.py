"""Redis Sentinel: duban follows a failover. The engine and the notifier run against a
primary, a replica and three sentinels of the test's own (tests/sentinel.py); the primary
is killed with SIGKILL while reports stream in, the sentinels promote the replica, the old
primary comes back as a replica, and every email the oracle (services.simulate) expects
arrives exactly once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from deploy.local.standins.smtp import FakeSmtpServer
from services.config.load import load_config
from services.engine.app import create_engine
from services.errors import NotReplicated
from services.notifier.app import create_notifier
from services.notifier.ledger import DeliveryLedger, Sent
from services.offsets import consumer_lag
from services.runner import running
from services.settings import Settings
from services.simulate import Rejected, read_events, simulate
from services.store.client import redis_client
from services.store.entities import RedisEntityStore
from services.store.ports import Write
from services.store.replicas import ReplicaWait
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import EXAMPLE, wait_for
from tests.sentinel import SentinelSet

BEFORE_THE_KILL = 30  # hazards published before the primary is killed
DURING_THE_FAILOVER = 30  # hazards published right after the kill
Delivery = tuple[str, str, str]  # notice id, occurrence, person id


async def test_a_write_that_no_replica_acknowledged_fails_as_infrastructure(
    redis: Redis,
) -> None:
    """The shared stack's Redis has no replica: WAIT 1 comes back with 0."""
    store = RedisEntityStore(redis, ReplicaWait(1, timeout_ms=50))
    write = Write("duban:test:wait", 0, '{"a": 1}', None, None)
    with pytest.raises(NotReplicated, match="0 of 1 replica"):
        await store.commit([write])
    # Not waiting: the same store commits as before (version 1 now, so 1 is expected).
    assert await RedisEntityStore(redis).commit([Write("duban:test:wait", 1, "{}")]) == []


async def test_a_sent_mark_lost_after_a_failed_write_is_written_again_not_resent(
    redis: Redis,
) -> None:
    """The replica that sent a message keeps the record Redis did not confirm: when the
    delivery comes back, it writes the record again and answers "sent", never "doubt"."""
    ledger = DeliveryLedger(redis, "a", wait=ReplicaWait(1, timeout_ms=50))
    assert await ledger.claim("k1") == "claimed"
    assert await ledger.sending("k1")
    with pytest.raises(NotReplicated):
        await ledger.mark_sent("k1", Sent("m-1", 1, clock_now()))
    await redis.delete("duban:delivery:k1")  # lost in a failover: the replica never had it
    ledger.wait = ReplicaWait()
    found = await ledger.claim("k1")
    assert isinstance(found, tuple)
    key, sent = found
    assert (key, sent.provider_message_id, sent.receipted) == ("k1", "m-1", False)
    assert (await ledger.state("k1") or "").startswith("sent:")
    assert await DeliveryLedger(redis, "b").claim("k1") == ("k1", sent)
    await ledger.aclose()


@pytest.mark.timeout(150)
async def test_a_primary_killed_mid_stream_loses_and_repeats_no_email(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish: Any, tmp_path: Path
) -> None:
    unit = unit_upserted("U1", at("2026-08-01 08:00"))
    hazards = [
        reported(f"H{n}", at("2026-09-01 09:00"), date(2026, 12, 1))
        for n in range(BEFORE_THE_KILL + DURING_THE_FAILOVER)
    ]
    expected = await asyncio.to_thread(oracle, [unit, *hazards], clock)
    async with SentinelSet(tmp_path / "sentinel") as ha:
        ha_settings = settings.model_copy(
            update={**ha.settings_update(db=0), "redis_wait_replicas": 1}
        )
        engine = create_engine(ha_settings, clock=clock)
        notifier = create_notifier(ha_settings, clock=clock)
        async with running(engine.app), running(notifier.app):
            await register(ha_settings, publish, unit)
            for hazard in hazards[:BEFORE_THE_KILL]:
                await publish(settings.topics.hazard_events, hazard)
            await wait_for(lambda: len(smtp.messages) >= 10, what="the first emails")
            old = await ha.kill_primary()
            sent_at_the_kill = len(smtp.messages)
            for hazard in hazards[BEFORE_THE_KILL:]:
                await publish(settings.topics.hazard_events, hazard)
            new = await ha.wait_failover(old)
            await ha.restart(old)  # back as a replica: the new primary takes writes again
            await ha.wait_replicas(1)
            await wait_for(
                lambda: len(delivery_keys(smtp)) >= len(expected), timeout_s=60, what="every email"
            )
            await wait_for(lambda: all_consumed(ha_settings), timeout_s=30, what="offsets")
    assert new != old and sent_at_the_kill < len(expected)  # killed mid-stream
    copies = Counter(d for d in map(delivery_of, delivery_keys(smtp)) if d[0].startswith("hazard:"))
    assert set(copies) == expected
    assert {k: n for k, n in copies.items() if n > 1} == {}


def clock_now() -> datetime:
    return datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def oracle(events: list[dict[str, Any]], clock: FakeClock) -> set[Delivery]:
    """Every hazard delivery `duban simulate` has due by now for these events (its duties
    start from the unit's time, the engine's from now: they are left out)."""
    rules = load_config(EXAMPLE).rules()
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    parsed = [e for e in read_events(lines) if not isinstance(e, Rejected)]
    now = clock.now()
    return {
        (n.notice_id, str(n.occurrence), n.recipient.person.id)
        for n in simulate(parsed, rules, now)
        if (n.channels[0].not_before or n.at) <= now and n.notice_id.startswith("hazard:")
    }


def delivery_keys(smtp: FakeSmtpServer) -> list[str]:
    """The delivery key of every hazard email caught (duty notices left out)."""
    keys = (str(m.message["X-Duban-Delivery"]) for m in smtp.messages)
    return [k for k in keys if k.startswith("hazard:")]


def delivery_of(key: str) -> Delivery:
    notice_id, occurrence, person, _channel = key.rsplit(":", 3)
    return notice_id, occurrence, person


async def register(settings: Settings, publish: Any, unit: dict[str, Any]) -> None:
    """Publish the unit and wait until the engine stored it (before any hazard of it)."""
    await publish(settings.topics.duty_events, unit)
    client = redis_client(settings)
    try:
        key = f"duban:unit:{unit['subject']}"
        await wait_for(lambda: stored(client, key), what="the unit stored")
    finally:
        await client.aclose()


async def stored(client: Redis, key: str) -> bool:
    return bool(await client.exists(key))


async def all_consumed(settings: Settings) -> bool:
    """Both consumers committed every record (so no batch is still to be redelivered)."""
    topics = settings.topics
    bootstrap = settings.kafka_bootstrap
    engine = await consumer_lag(bootstrap, settings.engine_group, topics.inbound())
    notifier = await consumer_lag(bootstrap, settings.notifier_group, [topics.notice_requested])
    return engine == 0 and notifier == 0
