"""Each channel end to end: notice.requested in Kafka → notifier → the provider's fake, which
checks the request as the provider would (signatures recomputed independently)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from deploy.local.standins._base import FakeHttpProvider
from deploy.local.standins.tcp import ConnectionRelay, RecordingProxy
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    notice,
    notice_publisher,
    outcomes,
    provider_templates,
    receipts,
    tencent_templates,
    use,
    use_aliyun,
    use_dingtalk,
    use_feishu,
    use_gateway,
    use_tencent,
    use_webhook,
    use_wecom,
)
from tests.providers import (
    FakeAliyunSms,
    FakeDingTalk,
    FakeFeishu,
    FakeSmsGateway,
    FakeSmtpServer,
    FakeTencentSms,
    FakeWebhookReceiver,
    FakeWeCom,
)

# channel name → (fake factory, how the example channels.yaml's variables point at it)
PROVIDERS: dict[str, tuple[Callable[[], FakeHttpProvider], Callable[..., None]]] = {
    "wecom": (FakeWeCom, use_wecom),
    "dingtalk": (FakeDingTalk, use_dingtalk),
    "feishu": (FakeFeishu, use_feishu),
    "aliyun_sms": (
        lambda: FakeAliyunSms(sign_names=("安全督办",), templates=provider_templates("aliyun_sms")),
        use_aliyun,
    ),
    "tencent_sms": (
        lambda: FakeTencentSms(sign_names=("安全督办",), templates=tencent_templates()),
        use_tencent,
    ),
    "sms_gateway": (FakeSmsGateway, use_gateway),
    "webhook": (FakeWebhookReceiver, use_webhook),
}


@pytest.mark.parametrize("channel", list(PROVIDERS))
async def test_a_notice_reaches_the_provider_signed_and_accepted(
    channel: str, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, wire = PROVIDERS[channel]
    async with make() as fake:
        wire(monkeypatch, fake)
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(notice(1, channel, "email", kind="escalation", action="letter"))
            await wait_for(lambda: fake.accepted, what=f"the {channel} request")
            found = await receipts(settings, 1)
    assert fake.rejections == [] and len(fake.requests) == len(fake.accepted) == 1
    assert outcomes(found) == [("notice.delivered", channel, 1)]


async def test_dingtalk_mentions_the_recipient_of_an_escalation(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeDingTalk() as fake:
        use_dingtalk(monkeypatch, fake)
        async with (
            running(create_notifier(settings, clock=clock).app),
            notice_publisher(settings) as send,
        ):
            await send(notice(7, "dingtalk", kind="escalation", action="circular"))
            await wait_for(lambda: fake.accepted, what="the DingTalk message")
    body = fake.accepted[0]
    assert fake.rejections == [] and body["msgtype"] == "markdown"
    assert body["at"]["atMobiles"] == ["13900000007"] and "@13900000007" in body["markdown"]["text"]
    assert "通报" in body["markdown"]["title"]


async def test_aliyun_sms_fills_the_approved_template(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = provider_templates("aliyun_sms")
    async with FakeAliyunSms(sign_names=("安全督办",), templates=templates) as fake:
        use_aliyun(monkeypatch, fake)
        async with (
            running(create_notifier(settings, clock=clock).app),
            notice_publisher(settings) as send,
        ):
            await send(notice(3, "aliyun_sms", kind="reminder"))
            await wait_for(lambda: fake.accepted, what="the SMS")
    sms = fake.accepted[0]
    assert sms["params"]["PhoneNumbers"] == "13900000003"
    assert sms["params"]["TemplateCode"] == "SMS_480000002"
    assert sms["params"]["OutId"] == "H3:rule:step:0:R1:aliyun_sms"
    assert set(sms["template_params"]) == {"unit", "title", "deadline", "days", "code"}
    assert sms["code"].isdigit() and f"回复{sms['code']}确认收到" in sms["rendered"]
    assert "整改期限为" in sms["rendered"] and "${" not in sms["rendered"]


async def test_the_webhook_carries_the_whole_notice_and_its_delivery_key(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        async with (
            running(create_notifier(settings, clock=clock).app),
            notice_publisher(settings) as send,
        ):
            await send(notice(4, "webhook", kind="report"))
            await wait_for(lambda: fake.accepted, what="the webhook call")
    call: dict[str, Any] = fake.accepted[0]
    assert call["delivery"] == "H4:rule:step:0:R1:webhook"
    assert call["payload"]["notice_id"] == "H4:rule:step" and call["payload"]["kind"] == "report"
    assert call["payload"]["recipient"]["person_id"] == "R1"


async def test_a_reported_major_hazard_reaches_the_unit_by_sms_per_the_routing(
    settings: Settings,
    clock: FakeClock,
    smtp: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    publish,
    register_unit,
) -> None:
    templates = provider_templates("aliyun_sms")
    async with FakeAliyunSms(sign_names=("安全督办",), templates=templates) as fake:
        use_aliyun(monkeypatch, fake)
        engine, notifier = (
            create_engine(settings, clock=clock),
            create_notifier(settings, clock=clock),
        )
        async with running(engine.app), running(notifier.app):
            await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
            await publish(
                settings.topics.hazard_events,
                reported("H1", at("2026-09-01 09:00"), date(2026, 12, 1)),
            )
            await wait_for(lambda: len(fake.accepted) >= 2, what="two report SMS")
    mobiles = sorted(s["params"]["PhoneNumbers"] for s in fake.accepted)
    assert mobiles == ["13900000001", "13900000002"]  # principal and controller
    assert {s["params"]["TemplateCode"] for s in fake.accepted} == {"SMS_480000001"}
    assert all(
        json.loads(s["params"]["TemplateParam"])["level"] == "重大事故隐患" for s in fake.accepted
    )
    assert smtp.messages == []  # SMS came first and was accepted: no email as well


async def test_consecutive_notices_share_one_connection_closed_when_the_notifier_stops(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWeCom() as fake, ConnectionRelay(fake.port) as relay:
        use(monkeypatch, WECOM_WEBHOOK_URL=relay.via(fake.webhook_url))
        async with (
            running(create_notifier(settings, clock=clock).app),
            notice_publisher(settings) as send,
        ):
            for n in (1, 2):
                await send(notice(n, "wecom"))
                await wait_for(lambda n=n: len(fake.accepted) == n, what=f"WeCom message {n}")
            assert relay.ended == 0  # kept alive while the notifier runs
        await relay.wait_ended(1)
    assert relay.opened == 1 and fake.rejections == []


async def test_the_notifier_reaches_the_provider_through_the_proxy_the_environment_names(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWeCom() as fake, RecordingProxy() as proxy:
        use_wecom(monkeypatch, fake)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with (
            running(create_notifier(settings, clock=clock).app),
            notice_publisher(settings) as send,
        ):
            await send(notice(5, "wecom"))
            await wait_for(lambda: fake.accepted, what="the WeCom message")
            found = await receipts(settings, 1)
    assert proxy.request_lines == [f"POST {fake.webhook_url} HTTP/1.1"]
    assert outcomes(found) == [("notice.delivered", "wecom", 1)]
