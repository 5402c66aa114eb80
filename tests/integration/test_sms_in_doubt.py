"""An SMS delivery in doubt, on the real stack: a notifier died in the middle of the send
(the ledger's try key is there, its lease gone), and the notifier that takes the
delivery over asks the provider's stand-in before sending. Aliyun (QuerySendDetails by
OutId): it had the SMS, so it is recorded sent and not sent again; it had none, so it is
sent once, not in doubt. Tencent (the status pull by SessionContext): its report is
found, so nothing is sent again; before a report it cannot tell, so the old in-doubt
path sends it once more."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from contracts.notice import NoticeRequested
from services.config.load import load_config
from services.notifier.app import create_notifier
from services.notifier.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsSettings
from services.notifier.channels.base import Channel, OutboundMessage
from services.notifier.channels.tencent_sms import TencentSmsChannel, TencentSmsSettings
from services.notifier.ledger import DeliveryLedger
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import EXAMPLE, wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    SIGN_NAME,
    notice,
    notice_publisher,
    outcomes,
    provider_templates,
    receipts,
    tencent_templates,
    use_aliyun,
    use_tencent,
)
from tests.providers import FakeAliyunSms, FakeTencentSms


async def _lease_gone(redis: Redis, key: str) -> bool:
    return await DeliveryLedger(redis, "probe").state(key) is None


async def cut_off(redis: Redis, key: str) -> None:
    """A notifier claimed the delivery, began its send and died: the lease expires, the
    try key stays."""
    dead = DeliveryLedger(redis, "dead-notifier", lease_s=1.0)
    assert await dead.claim(key) == "claimed" and await dead.sending(key)
    await dead.aclose()
    await wait_for(lambda: _lease_gone(redis, key), timeout_s=10, what="the lease to expire")


async def sent_before_dying(channel: Channel, item: NoticeRequested) -> None:
    """The SMS the dead notifier's send got to the provider (its template filled)."""
    entry: Any = load_config(EXAMPLE).channels.channels[channel.name]
    template = entry.templates["escalation.letter"]
    message = OutboundMessage(
        delivery_key=item.delivery_key(channel.name),
        subject="",
        text="",
        html=None,
        markdown=None,
        sms_params={name: "1" for name in template.params},
        sms_template=template.template,
        to_email=None,
        to_mobile=item.recipient.mobile,
    )
    try:
        await channel.send(message)
    finally:
        await channel.aclose()


async def taken_over(settings: Settings, clock: FakeClock, item: NoticeRequested) -> list[Any]:
    """Another notifier gets the notice: the receipts it publishes."""
    notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
    async with running(notifier.app), notice_publisher(settings) as send:
        await send(item)
        return await receipts(settings, 1)


def aliyun_channel(fake: FakeAliyunSms) -> AliyunSmsChannel:
    settings = AliyunSmsSettings(
        access_key_id=fake.access_key_id,
        access_key_secret=fake.access_key_secret,
        sign_name=SIGN_NAME,
        endpoint=fake.endpoint,
    )
    return AliyunSmsChannel(settings)


def tencent_channel(fake: FakeTencentSms) -> TencentSmsChannel:
    settings = TencentSmsSettings(
        secret_id=fake.secret_id,
        secret_key=fake.secret_key,
        sdk_app_id=fake.sdk_app_id,
        sign_name=SIGN_NAME,
        endpoint=fake.endpoint,
    )
    return TencentSmsChannel(settings)


def letter(n: int, channel: str) -> NoticeRequested:
    return notice(n, channel, "email", kind="escalation", action="letter")


@pytest.mark.parametrize("provider_has_it", [True, False])
async def test_aliyun_is_asked_and_the_sms_goes_out_once(
    provider_has_it: bool,
    settings: Settings,
    redis: Redis,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = letter(41, "aliyun_sms")
    templates = provider_templates("aliyun_sms")
    async with FakeAliyunSms(sign_names=(SIGN_NAME,), templates=templates) as fake:
        use_aliyun(monkeypatch, fake)
        await cut_off(redis, item.delivery_key("aliyun_sms"))
        if provider_has_it:
            await sent_before_dying(aliyun_channel(fake), item)
        found = await taken_over(settings, clock, item)
    assert fake.rejections == [] and len(fake.queries) >= 1
    assert len(fake.accepted) == 1  # the dead notifier's SMS, or the one sent now
    assert outcomes(found) == [("notice.delivered", "aliyun_sms", 1)]  # no in-doubt receipt
    assert fake.accepted[0]["params"]["OutId"] == item.delivery_key("aliyun_sms")


async def test_tencent_reported_it_so_it_is_not_sent_again(
    settings: Settings, redis: Redis, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = letter(42, "tencent_sms")
    async with FakeTencentSms(sign_names=(SIGN_NAME,), templates=tencent_templates()) as fake:
        use_tencent(monkeypatch, fake)
        await cut_off(redis, item.delivery_key("tencent_sms"))
        await sent_before_dying(tencent_channel(fake), item)
        [status] = fake.report(message_id=item.delivery_key("tencent_sms"))
        found = await taken_over(settings, clock, item)
    assert fake.rejections == [] and len(fake.queries) == 1 and len(fake.accepted) == 1
    assert outcomes(found) == [("notice.delivered", "tencent_sms", 1)]
    assert found[0]["data"]["provider_message_id"] == status["SerialNo"]


async def test_tencent_cannot_tell_before_a_report_so_it_is_sent_once_in_doubt(
    settings: Settings, redis: Redis, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = letter(43, "tencent_sms")
    async with FakeTencentSms(sign_names=(SIGN_NAME,), templates=tencent_templates()) as fake:
        use_tencent(monkeypatch, fake)
        await cut_off(redis, item.delivery_key("tencent_sms"))
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(item)
            found = await receipts(settings, 2)
    assert len(fake.queries) == 1 and len(fake.accepted) == 1
    assert [(t, c) for t, c, _ in outcomes(found)] == [
        ("notice.failed", "tencent_sms"),  # in doubt: it may get it twice
        ("notice.delivered", "tencent_sms"),
    ]
    assert found[0]["data"]["reason"].startswith("in doubt")
