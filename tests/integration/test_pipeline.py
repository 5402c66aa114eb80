"""The first slice on the real stack: a CloudEvent in Kafka ends as email in real SMTP."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from email.header import decode_header, make_header

from contracts.topics import DLQ_HEADER_REASON
from deploy.local.standins.smtp import FakeSmtpServer
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, hazard_event, reported, unit_upserted
from tests.integration.conftest import read_topic, wait_for


def subject_of(mail) -> str:
    return str(make_header(decode_header(mail.message["Subject"])))


def recipients(smtp: FakeSmtpServer) -> Counter[str]:
    return Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)


async def test_reported_major_hazard_ends_as_email_to_principal_and_controller(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish, register_unit
) -> None:
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        await publish(
            settings.topics.hazard_events, reported("H1", at("2026-09-01 09:00"), date(2026, 12, 1))
        )
        await wait_for(lambda: len(smtp.messages) >= 2, what="two report emails")
    assert recipients(smtp) == {"r1@unit.example": 1, "c1@unit.example": 1}
    subject = subject_of(smtp.messages[0])
    assert "重大事故隐患" in subject and "鑫源化工" in subject
    receipts = await read_topic(settings.kafka_bootstrap, settings.topics.notice_receipts, 2)
    assert sorted(r.value.decode().count('"notice.delivered"') for r in receipts) == [1, 1]


async def test_the_same_event_twice_yields_one_email(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish, register_unit
) -> None:
    report = reported("H1", at("2026-09-01 09:00"), date(2026, 12, 1))
    closed = hazard_event(
        "hazard.closed", "H1", at("2026-09-01 09:30"), closed_at=at("2026-09-01 09:30")
    )
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        await publish(settings.topics.hazard_events, report)
        await publish(settings.topics.hazard_events, report)
        # Same key, same partition: once the closure is mailed, both copies were handled.
        await publish(settings.topics.hazard_events, closed)
        await wait_for(
            lambda: any("销号" in subject_of(m) for m in smtp.messages), what="the closure email"
        )
        await wait_for(lambda: len(smtp.messages) >= 4, what="closure emails")
    kinds = Counter(("销号" in subject_of(m), m.rcpt_tos[0]) for m in smtp.messages)
    assert kinds == {
        (False, "r1@unit.example"): 1,
        (False, "c1@unit.example"): 1,
        (True, "r1@unit.example"): 1,
        (True, "emergency@duban.example"): 1,
    }


async def test_malformed_messages_are_dead_lettered_and_the_next_event_still_flows(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish, register_unit
) -> None:
    not_json = b"\xff{not json"
    invalid = reported("H1", at("2026-09-01 09:00"), date(2026, 12, 1), level="catastrophic")
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        await publish(settings.topics.hazard_events, not_json)
        await publish(settings.topics.hazard_events, invalid)
        await publish(
            settings.topics.hazard_events, reported("H2", at("2026-09-01 09:00"), date(2026, 12, 1))
        )
        await wait_for(lambda: len(smtp.messages) >= 2, what="emails of the valid event")
    dead = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_events, 2)
    reasons = {d.value: dict(d.headers)[DLQ_HEADER_REASON].decode() for d in dead}
    invalid_bytes = json.dumps(invalid, ensure_ascii=False).encode()
    assert set(reasons) == {not_json, invalid_bytes}  # the original bytes, untouched
    assert reasons[not_json].startswith("not JSON")
    assert "data.level" in reasons[invalid_bytes]


async def test_a_notifier_restarted_mid_stream_sends_nothing_twice(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish, register_unit
) -> None:
    hazards = 30
    settings = settings.model_copy(
        update={"batch_max": 5}
    )  # small batches: a stop lands mid-stream
    engine = create_engine(settings, clock=clock)
    async with running(engine.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        for i in range(hazards):
            await publish(
                settings.topics.hazard_events,
                reported(f"H{i}", at("2026-09-01 09:00"), date(2026, 12, 1)),
            )
        async with running(create_notifier(settings, clock=clock).app):
            await wait_for(lambda: len(smtp.messages) >= 5, what="the first emails")
        stopped_at = len(smtp.messages)
        async with running(create_notifier(settings, clock=clock).app):
            await wait_for(lambda: len(smtp.messages) >= 2 * hazards, what="every email")
            await read_topic(settings.kafka_bootstrap, settings.topics.notice_receipts, 2 * hazards)
    ids = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert len(ids) == 2 * hazards
    assert set(ids.values()) == {1}, f"sent twice: {[k for k, v in ids.items() if v > 1]}"
    assert stopped_at < 2 * hazards  # the restart really happened mid-stream
