"""SMS after the send, on the real stack (Kafka, Redis): the notifier sends to the SMS
stand-in, the stand-in pushes its delivery report or the recipient's reply to the ack
service's callbacks, and what follows is on Kafka: one notice.reached for a report pushed
twice; for a failure report, or none in time, notice.failed (after acceptance) and the
email on the next channel; for a reply with the code, notice.acknowledged — and the engine
sends that person no more repeats."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp import web
from faststream.kafka import KafkaBroker
from pydantic import SecretStr
from redis.asyncio import Redis

from deploy.local.standins._base import FakeHttpProvider
from services.ack.app import create_ack_app
from services.config.load import load_config
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import EXAMPLE, read_topic, wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    notice,
    notice_publisher,
    provider_templates,
    receipts,
    use_aliyun,
    use_tencent,
)
from tests.providers import FakeAliyunSms, FakeSmtpServer, FakeTencentSms

TOKEN = "sms-loop-callback-token-0123"
ACK_SECRET = b"sms-loop-ack-secret-0123456789"
MOBILE = "13900000001"  # deliverykit.notice(1, ...)'s, and tests.helpers' principal R1's
KEY = "H1:rule:step:0:R1:"


@dataclass
class Ack:
    """The ack service on a random port, and where the stand-ins push to."""

    settings: Settings
    pattern: str  # report_url / reply_url with {provider}, {report}, {reply}


@pytest.fixture
async def ack(settings: Settings, clock: FakeClock) -> AsyncIterator[Ack]:
    settings = settings.model_copy(update={"callback_token": SecretStr(TOKEN)})
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-ack-sms-test")
    await broker.start()
    redis = Redis.from_url(settings.redis_url)
    app = create_ack_app(settings, broker, clock=clock, secret=ACK_SECRET, redis=redis)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        base = f"http://127.0.0.1:{port}/callbacks/{{provider}}"
        yield Ack(settings, base + "/{report}?token=" + TOKEN)
    finally:
        await runner.cleanup()
        await broker.stop()
        await redis.aclose()


def tencent_names() -> dict[str, tuple[str, ...]]:
    """Tencent template id → its parameter names, as channels.yaml orders them."""
    entry: Any = load_config(EXAMPLE).channels.channels["tencent_sms"]
    return {t.template: tuple(t.params) for t in entry.templates.values()}


def aliyun_fake(pattern: str) -> FakeAliyunSms:
    urls = {"report_url": pattern, "reply_url": pattern.replace("{report}", "{reply}")}
    return FakeAliyunSms(
        sign_names=("安全督办",), templates=provider_templates("aliyun_sms"), **urls
    )


def tencent_fake(pattern: str) -> FakeTencentSms:
    urls = {"report_url": pattern, "reply_url": pattern.replace("{report}", "{reply}")}
    return FakeTencentSms(sign_names=("安全督办",), templates=tencent_names(), **urls)


PROVIDERS: dict[str, tuple[Callable[[str], Any], Callable[..., None]]] = {
    "aliyun_sms": (aliyun_fake, use_aliyun),
    "tencent_sms": (tencent_fake, use_tencent),
}


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type]


@pytest.mark.parametrize("channel", list(PROVIDERS))
async def test_a_report_pushed_twice_is_one_reached_receipt_on_kafka(
    channel: str, ack: Ack, clock: FakeClock, smtp: FakeSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, wire = PROVIDERS[channel]
    fake: FakeHttpProvider
    async with make(ack.pattern) as fake:
        wire(monkeypatch, fake)
        notifier = create_notifier(ack.settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(ack.settings) as send:
            await send(notice(1, channel, "email", kind="escalation", action="letter"))
            await wait_for(lambda: fake.accepted, what=f"the {channel} SMS")
            # A provider reports seconds after it took the SMS: push once the notifier's
            # own receipt is out, so the two receipts' order on Kafka is the real one.
            await receipts(ack.settings, 1)
            code = fake.last_code(MOBILE)  # type: ignore[attr-defined]
            pushes = await fake.push_report(mobile=MOBILE, times=2)  # type: ignore[attr-defined]
            found = await receipts(ack.settings, 2)
    assert fake.rejections == [] and code is not None and len(code) == 4
    assert [p.accepted for p in pushes] == [True, True]
    assert [e["type"] for e in found] == ["notice.delivered", "notice.reached"]
    reached = found[1]
    assert reached["id"] == f"{KEY}{channel}@reached" and reached["source"] == "urn:duban:ack"
    assert reached["data"]["provider_message_id"] == found[0]["data"]["provider_message_id"]
    assert smtp.messages == []


async def test_a_failure_report_sends_the_email_and_records_the_failure(
    ack: Ack, clock: FakeClock, smtp: FakeSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aliyun_fake(ack.pattern) as fake:
        use_aliyun(monkeypatch, fake)
        notifier = create_notifier(ack.settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(ack.settings) as send:
            await send(notice(1, "aliyun_sms", "email", kind="escalation", action="letter"))
            await wait_for(lambda: fake.accepted, what="the SMS")
            [push] = await fake.push_report(success=False, code="MBBLACK")
            await wait_for(lambda: smtp.messages, what="the email on the next channel")
            found = await receipts(ack.settings, 3)
    assert push.accepted and len(smtp.messages) == 1
    assert smtp.messages[0].rcpt_tos == ["r1-1@unit.example"]
    assert [(e["type"], e["data"]["channel"]) for e in found] == [
        ("notice.delivered", "aliyun_sms"),
        ("notice.failed", "aliyun_sms"),
        ("notice.delivered", "email"),
    ]
    failed = found[1]["data"]
    assert failed["after_acceptance"] is True and failed["final"] is False
    assert failed["reason"] == "delivery report MBBLACK: 用户接收失败"
    assert found[1]["id"] == f"{KEY}aliyun_sms@report"


async def test_no_report_in_time_sends_the_email(
    ack: Ack, clock: FakeClock, smtp: FakeSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aliyun_fake(ack.pattern) as fake:
        use_aliyun(monkeypatch, fake)
        notifier = create_notifier(ack.settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(ack.settings) as send:
            await send(notice(1, "aliyun_sms", "email", kind="escalation", action="letter"))
            await wait_for(lambda: fake.accepted, what="the SMS")
            clock.advance(timedelta(seconds=ack.settings.sms_report_timeout_s + 1))
            await wait_for(lambda: smtp.messages, what="the email after the silence")
            found = await receipts(ack.settings, 3)
    failed = of_type(found, "notice.failed")[0]["data"]
    assert failed["after_acceptance"] is True
    assert failed["reason"] == "no delivery report within 10 minutes"
    assert len(smtp.messages) == 1


async def test_a_reply_with_the_code_acknowledges_and_the_engine_stops_its_repeats(
    ack: Ack,
    clock: FakeClock,
    smtp: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    redis: Redis,
    publish: Any,
    register_unit: Any,
) -> None:
    settings = ack.settings
    async with aliyun_fake(ack.pattern) as fake:
        use_aliyun(monkeypatch, fake)
        engine = create_engine(settings, clock=clock)
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(engine.app), running(notifier.app):
            await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
            hazard = reported("H1", at("2026-08-20 09:00"), date(2026, 8, 31))
            await publish(settings.topics.hazard_events, hazard)
            await wait_for(lambda: letter_to(fake) is not None, what="the letter SMS to R1")
            letter = letter_to(fake)
            assert letter is not None and letter["code"] is not None
            push = await fake.push_reply(MOBILE, f"收到 {letter['code']}")
            await wait_for(lambda: acknowledged(redis), what="the engine noting the reply")
            clock.advance(timedelta(days=1))  # the letter's first repeat falls due
            await wait_for(lambda: repeats(settings), what="the letter's first repeat")
            again = await repeats(settings)
    acks = await read_topic(settings.kafka_bootstrap, settings.topics.notice_acks, 1)
    assert push.accepted and len(acks) == 1
    event = json.loads(acks[0].value)
    assert event["data"]["channel"] == "sms_reply" and event["data"]["person_id"] == "R1"
    assert "R1" not in again  # repeated to the others, not to who acknowledged by reply


def letter_to(fake: FakeAliyunSms) -> dict[str, Any] | None:
    """The escalation letter's SMS to R1, once sent."""
    for record in fake.accepted:
        params = record["params"]
        if params["TemplateCode"] == "SMS_480000003" and params["PhoneNumbers"] == MOBILE:
            return record
    return None


async def acknowledged(redis: Redis) -> bool:
    stored = await redis.hget("duban:hazard:H1", "s")
    if stored is None:
        return False
    acks: dict[str, list[str]] = json.loads(stored).get("acks", {})
    return any("R1" in people for notice_id, people in acks.items() if ":letter" in notice_id)


async def repeats(settings: Settings) -> set[str]:
    """Who the letter's first repeat went to (empty until it went)."""
    records = await read_topic(
        settings.kafka_bootstrap, settings.topics.notice_requested, 1, timeout_s=1
    )
    found = (json.loads(r.value)["data"] for r in records)
    return {
        d["recipient"]["person_id"]
        for d in found
        if d["kind"] == "escalation" and d["action"] == "letter" and d["occurrence"] == 1
    }
