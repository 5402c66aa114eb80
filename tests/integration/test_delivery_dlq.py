"""Dead letters on the real stack: an undeliverable notice lands in duban.dlq.notices with
its reason; `duban dlq list` shows it masked; `duban dlq replay` delivers it once, however
often it is replayed; a dead inbound event is replayed to its topic only if now valid."""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from contracts.topics import DLQ_HEADER_REASON, DLQ_HEADER_TOPIC
from services.cli import app
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import read_topic, wait_for
from tests.integration.deliverykit import FAST_RETRY, notice, notice_publisher, use_webhook
from tests.providers import FakeSmtpServer, FakeWebhookReceiver


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `duban` at this test's Kafka topics, as ops would with DUBAN_* variables."""
    monkeypatch.setenv("DUBAN_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    for f in fields(settings.topics):
        monkeypatch.setenv(f"DUBAN_TOPIC_{f.name.upper()}", getattr(settings.topics, f.name))


async def duban(*args: str) -> Any:
    """Run the `duban` command (it runs its own event loop, so in a thread)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_a_dead_notice_is_listed_and_replayed_once(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, cli_env: None
) -> None:
    topics = settings.topics
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        fake.fail_next(status=410)  # the receiver refuses: permanent, and no other channel
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(notice(1, "webhook", "email"))
            [dead] = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, 1)
            reason = dict(dead.headers)[DLQ_HEADER_REASON].decode()
            assert (
                reason.startswith("webhook: [webhook] HTTP 410")
                and "email: channel is off" in reason
            )

            listed = await duban("dlq", "list", "--topic", "notices")
            assert listed.exit_code == 0, listed.output
            assert f"{dead.partition}:{dead.offset}\t" in listed.output
            assert (
                "notice H1:rule:step#0 reminder to R1 (principal) via webhook,email"
                in listed.output
            )
            assert "13900000001" not in listed.output and "r1-1@unit.example" not in listed.output

            # The second replay finds it delivered, its receipt out: it sends nothing and
            # publishes no receipt again (one per delivery: docs/reliability.md).
            for _ in range(2):
                replayed = await duban("dlq", "replay", "--topic", "notices", "--all")
                assert replayed.exit_code == 0, replayed.output
                assert "replayed to " + topics.notice_requested in replayed.output
            found = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 3)
            await wait_for(lambda: fake.accepted, what="the replayed notice delivered")
            receipts = await read_topic(
                settings.kafka_bootstrap, settings.topics.notice_receipts, 2
            )
    assert len(found) == 3  # the original and two replays
    assert len(fake.accepted) == 1 and fake.accepted[0]["delivery"] == "H1:rule:step:0:R1:webhook"
    events = [json.loads(r.value) for r in receipts]
    assert [e["type"] for e in events] == ["notice.failed", "notice.delivered"]


async def test_replay_of_one_offset_and_a_wrong_offset(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, cli_env: None
) -> None:
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        fake.fail_next(2, status=400)
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(notice(1, "webhook"))
            await send(notice(2, "webhook"))
            dead = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, 2)
            first = dead[0]
            result = await duban("dlq", "replay", "--offset", f"{first.partition}:{first.offset}")
            assert result.exit_code == 0, result.output
            await wait_for(lambda: fake.accepted, what="the replayed notice")
            missing = await duban("dlq", "replay", "--offset", "5:999")
    assert missing.exit_code == 1 and "no dead letter at 5:999" in missing.output
    replayed_id = json.loads(first.value)["data"]["notice_id"]
    assert [a["payload"]["notice_id"] for a in fake.accepted] == [replayed_id]


async def test_dead_inbound_events_go_back_to_their_topic_only_when_valid_now(
    settings: Settings,
    clock: FakeClock,
    smtp: FakeSmtpServer,
    cli_env: None,
    register_unit,
) -> None:
    valid = reported("H5", at("2026-09-01 09:00"), date(2026, 12, 1))
    invalid = reported("H6", at("2026-09-01 09:00"), date(2026, 12, 1), level="catastrophic")
    origin = [(DLQ_HEADER_TOPIC, settings.topics.hazard_events.encode())]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:  # as an older duban, rejecting what is valid now, would have dead-lettered them
        for event in (valid, invalid):
            body = json.dumps(event, ensure_ascii=False).encode()
            await producer.send_and_wait(settings.topics.dlq_events, body, headers=origin)
    finally:
        await producer.stop()
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        result = await duban("dlq", "replay", "--topic", "events", "--all")
        await wait_for(lambda: len(smtp.messages) >= 2, what="the replayed report's emails")
    assert result.exit_code == 1  # one was refused
    assert "replayed to " + settings.topics.hazard_events in result.output
    assert "not replayed: still invalid (data.level" in result.output
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["c1@unit.example", "r1@unit.example"]
