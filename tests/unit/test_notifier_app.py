"""The notifier's FastStream wiring in memory (TestKafkaBroker): the app `create_notifier`
builds, over an in-memory backing (ledger, deferrals, no rate limits) and a scripted
channel. A consumed notice is delivered and its receipt published; what cannot be
delivered or read is dead-lettered under its key. The engine's KafkaSink publishes the
notices the app consumes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream import TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts.notice import ChannelPlan, NoticeRequested
from contracts.registry import make_event
from contracts.topics import DLQ_HEADER_REASON, DLQ_HEADER_TOPIC
from services.config.load import Config, load_config
from services.core.noticeevent import ENGINE_SOURCE
from services.kafka import KafkaSink, undecoded
from services.notifier.app import Backing, create_notifier
from services.notifier.deferred import Unreadable, deferral_id
from services.notifier.ledger import Sent
from services.settings import Settings
from tests.fakes import FakeClock
from tests.perf.notices import sample_notices
from tests.unit.test_notifier_deliver import MemoryLedger, ScriptedChannel, notice

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, outside quiet hours
SETTINGS = Settings(config_dir=EXAMPLE)
TOPICS = SETTINGS.topics


class MemoryDeferrals:
    """The quiet-hours deferrals' contract, in memory."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[NoticeRequested, datetime]] = {}

    async def hold(self, notice: NoticeRequested, until: datetime) -> None:
        self.held[deferral_id(notice)] = (notice, until)

    async def claim(
        self, now: datetime, limit: int, lease_s: float
    ) -> list[NoticeRequested | Unreadable]:
        return [n for n, until in self.held.values() if until <= now][:limit]

    async def forget(self, member: str) -> None:
        self.held.pop(member, None)

    async def done(self, notice: NoticeRequested) -> None:
        await self.forget(deferral_id(notice))


@dataclass
class Notifier:
    """The notifier app in memory and what it did."""

    broker: KafkaBroker
    email: ScriptedChannel
    ledger: MemoryLedger
    deferrals: MemoryDeferrals
    published: dict[str, list[Any]] = field(default_factory=dict)  # topic → records

    async def consume(self, value: bytes, key: bytes) -> None:
        """Hand the notifier one notice.requested record (handled before this returns)."""
        await self.broker.publish(value, TOPICS.notice_requested, key=key)


def requested(item: NoticeRequested) -> bytes:
    """The notice.requested CloudEvent, as the engine publishes it."""
    event = make_event("notice.requested", ENGINE_SOURCE, item.notice_id, item, time=NOW)
    return event.to_json()


def keep_records(broker: KafkaBroker, topic: str, into: list[Any]) -> None:
    """A test subscriber: every record the app publishes to `topic`, raw."""

    @broker.subscriber(topic, decoder=undecoded)
    async def keep(message: KafkaMessage) -> None:
        into.append(message.raw_message)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(EXAMPLE)


@asynccontextmanager
async def notifier_in_memory(config: Config) -> AsyncIterator[Notifier]:
    ledger, deferrals = MemoryLedger(), MemoryDeferrals()

    @asynccontextmanager
    async def in_memory() -> AsyncIterator[Backing]:
        yield Backing(ledger, deferrals, limiter=None)  # type: ignore[arg-type]

    email = ScriptedChannel("email", family="email")
    parts = create_notifier(
        SETTINGS, config, FakeClock(NOW), channels={"email": email}, backing=in_memory
    )
    found = Notifier(parts.broker, email, ledger, deferrals)
    for topic in (TOPICS.notice_receipts, TOPICS.dlq_notices):
        keep_records(parts.broker, topic, found.published.setdefault(topic, []))
    async with TestKafkaBroker(parts.broker), TestApp(parts.app):
        yield found


def headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_a_consumed_notice_is_delivered_and_its_receipt_published(config: Config) -> None:
    item = notice("email")
    async with notifier_in_memory(config) as app:
        await app.consume(requested(item), key=item.notice_id.encode())
    key = item.delivery_key("email")
    assert [m.delivery_key for m in app.email.sent] == [key]
    assert isinstance(app.ledger.values[key], Sent)
    [receipt] = app.published[TOPICS.notice_receipts]
    event = json.loads(receipt.value)
    assert (receipt.key, headers(receipt)["content-type"]) == (
        item.notice_id.encode(),
        "application/json",
    )
    assert (event["type"], event["id"], event["source"]) == (
        "notice.delivered",
        key,
        "urn:duban:notifier",
    )
    assert (event["data"]["channel"], event["data"]["attempts"]) == ("email", 1)
    # Receipts go out in groups (services.grouppublish): FastStream's correlation_id header
    # is the group's, and consumers tell receipts apart by the event id asserted above.
    assert app.published[TOPICS.dlq_notices] == []


async def test_a_redelivered_notice_is_not_sent_again_and_gets_the_same_receipt(
    config: Config,
) -> None:
    item = notice("email")
    async with notifier_in_memory(config) as app:
        for _ in range(2):
            await app.consume(requested(item), key=item.notice_id.encode())
    assert len(app.email.sent) == 1
    first, second = app.published[TOPICS.notice_receipts]
    assert first.value == second.value


async def test_an_unreadable_record_is_dead_lettered_with_its_key(config: Config) -> None:
    async with notifier_in_memory(config) as app:
        await app.consume(b"not json", key=b"garbage-1")
    [dead] = app.published[TOPICS.dlq_notices]
    assert (dead.key, dead.value) == (b"garbage-1", b"not json")
    assert headers(dead)[DLQ_HEADER_REASON].startswith("not JSON")
    assert headers(dead)[DLQ_HEADER_TOPIC] == TOPICS.notice_requested
    assert app.email.sent == [] and app.published[TOPICS.notice_receipts] == []


async def test_a_notice_no_channel_can_deliver_is_dead_lettered_by_notice_id(
    config: Config,
) -> None:
    item = notice("webhook")  # not among this notifier's channels
    async with notifier_in_memory(config) as app:
        await app.consume(requested(item), key=item.notice_id.encode())
    [dead] = app.published[TOPICS.dlq_notices]
    assert dead.key == item.notice_id.encode()
    assert headers(dead)[DLQ_HEADER_REASON] == "webhook: channel is off (not configured)"
    assert json.loads(dead.value)["data"]["notice_id"] == item.notice_id


async def test_a_notice_in_quiet_hours_is_held_not_sent(config: Config) -> None:
    later = NOW + timedelta(hours=12)
    item = notice(ChannelPlan(channel="email", not_before=later))
    async with notifier_in_memory(config) as app:
        await app.consume(requested(item), key=item.notice_id.encode())
    assert app.deferrals.held == {deferral_id(item): (item, later)}
    assert app.email.sent == [] and app.published[TOPICS.notice_receipts] == []


async def test_the_notices_the_engines_sink_publishes_are_delivered(config: Config) -> None:
    planned = sample_notices()  # planned on SMS channels first: off here, email is next
    async with notifier_in_memory(config) as app:
        await KafkaSink(app.broker, TOPICS).notices(planned)
    # The group robot's posts have the robot as their only channel, which is off here.
    personal = [n for n in planned if n.recipient.role != "group"]
    keys = {f"{n.notice_id}:{n.occurrence}:{n.recipient.person.id}:email" for n in personal}
    assert sorted(m.delivery_key for m in app.email.sent) == sorted(keys)
    receipts = [json.loads(r.value) for r in app.published[TOPICS.notice_receipts]]
    assert sorted(e["id"] for e in receipts) == sorted(keys)
    assert all(e["type"] == "notice.delivered" for e in receipts)
