"""Failure handling on the real stack: retries (5xx, 429, timeouts), provider rate-limit
codes, permanent codes, and falling back to the next channel, as the receipts record it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from services.notifier.app import create_notifier
from services.notifier.ledger import DeliveryLedger, Sent
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    config_with,
    notice,
    notice_publisher,
    outcomes,
    provider_templates,
    receipts,
    use_aliyun,
    use_dingtalk,
    use_webhook,
    use_wecom,
)
from tests.providers import (
    FakeAliyunSms,
    FakeDingTalk,
    FakeSmtpServer,
    FakeWebhookReceiver,
    FakeWeCom,
)


async def deliver_one(settings: Settings, clock: FakeClock, *channels: str, count: int) -> list:
    """Publish one notice on `channels`; the receipts once `count` arrived."""
    notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
    async with running(notifier.app), notice_publisher(settings) as send:
        await send(notice(1, *channels))
        return await receipts(settings, count)


def finals(found: list[dict[str, Any]]) -> list[tuple[bool, bool]]:
    """(retryable, final) of the failure receipts."""
    return [
        (e["data"]["retryable"], e["data"]["final"]) for e in found if e["type"] == "notice.failed"
    ]


async def test_a_permanent_robot_error_falls_back_to_email_at_once(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeDingTalk() as fake:
        use_dingtalk(monkeypatch, fake)
        fake.fail_next(code=400102)  # robot disabled: permanent
        found = await deliver_one(settings, clock, "dingtalk", "email", count=2)
    assert outcomes(found) == [("notice.failed", "dingtalk", 1), ("notice.delivered", "email", 1)]
    assert finals(found) == [(False, False)]
    assert len(fake.requests) == 1
    assert [m.rcpt_tos for m in smtp.messages] == [["r1-1@unit.example"]]


async def test_server_errors_are_retried_until_accepted(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        fake.fail_next(2, status=503)
        found = await deliver_one(settings, clock, "webhook", "email", count=1)
    assert outcomes(found) == [("notice.delivered", "webhook", 3)]
    assert len(fake.requests) == 3 and len(fake.accepted) == 1


async def test_429_with_retry_after_is_retried(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        fake.fail_next(status=429, retry_after=0)
        found = await deliver_one(settings, clock, "webhook", count=1)
    assert outcomes(found) == [("notice.delivered", "webhook", 2)]


async def test_a_robot_rate_limit_code_beyond_the_deadline_falls_back(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWeCom() as fake:
        use_wecom(monkeypatch, fake)
        fake.fail_next(code=45009)  # WeCom: wait a minute; the retry deadline here is 5 s
        found = await deliver_one(settings, clock, "wecom", "email", count=2)
    assert outcomes(found) == [("notice.failed", "wecom", 1), ("notice.delivered", "email", 1)]
    assert finals(found) == [(True, False)]


async def test_timeouts_are_retried_on_the_same_channel(
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    def quick_timeout(channels: dict[str, Any]) -> None:
        channels["channels"]["webhook"]["timeout_s"] = 0.3

    settings = settings.model_copy(update={"config_dir": config_with(tmp_path, quick_timeout)})
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        fake.delay_next(seconds=5)
        found = await deliver_one(settings, clock, "webhook", count=1)
    assert outcomes(found) == [("notice.delivered", "webhook", 2)]


async def test_a_permanent_sms_code_is_not_retried_and_the_last_failure_is_final(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = provider_templates("aliyun_sms")
    async with FakeAliyunSms(sign_names=("安全督办",), templates=templates) as fake:
        use_aliyun(monkeypatch, fake)
        fake.fail_next(code="isv.AMOUNT_NOT_ENOUGH")
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(notice(1, "aliyun_sms", "tencent_sms"))  # tencent is off here
            await wait_for(lambda: fake.requests, what="the SMS attempt")
            found = await receipts(settings, 1)
    assert outcomes(found) == [("notice.failed", "aliyun_sms", 1)]
    assert finals(found) == [(False, True)]
    assert "isv.AMOUNT_NOT_ENOUGH" in found[0]["data"]["reason"]


async def test_a_crash_between_the_send_and_its_receipt_gets_the_receipt_on_restart(
    settings: Settings, clock: FakeClock, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger says "sent" but no receipt went out (the process died in between): the
    redelivered notice is not sent again and its receipt is published, as recorded."""
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        first = notice(1, "webhook")
        at = datetime(2026, 9, 1, 1, 2, 3, tzinfo=UTC)
        ledger = DeliveryLedger(redis, "the-replica-that-died")
        await ledger.mark_sent(first.delivery_key("webhook"), Sent("msg-7", 2, at))
        found = await deliver_one(settings, clock, "webhook", count=1)
    assert outcomes(found) == [("notice.delivered", "webhook", 2)]
    [receipt] = found
    assert receipt["data"]["provider_message_id"] == "msg-7"
    assert receipt["id"] == first.delivery_key("webhook")
    assert receipt["time"] == receipt["data"]["delivered_at"] == "2026-09-01T01:02:03Z"
    assert fake.requests == []
