"""Shared by the delivery integration tests: fake providers wired in through the example
channels.yaml's own environment variables, notices published straight to
notice.requested, receipts read back, config folders with edited channels."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from contracts.registry import make_event
from services.config.load import load_config
from services.core.noticeevent import ENGINE_SOURCE
from services.notifier.render import sample_facts
from services.notifier.retry import RetryPolicy
from services.settings import Settings
from tests.integration.conftest import EXAMPLE, read_topic
from tests.providers import (
    FakeAliyunSms,
    FakeDingTalk,
    FakeFeishu,
    FakeSmsGateway,
    FakeTencentSms,
    FakeWebhookReceiver,
    FakeWeCom,
)

SIGN_NAME = "安全督办"
FAST_RETRY = RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.05, deadline_s=5.0)
_REFERENCE = re.compile(r"^# 参考短信模板：(?P<text>.+)$", re.MULTILINE)
_VARIABLE = re.compile(r"\$\{(\w+)\}")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def reference_sms_texts(folder: Path = EXAMPLE) -> dict[str, str]:
    """'kind' / 'kind.action' → the reference SMS text written atop templates/*.sms.yaml."""
    texts = {}
    for path in (folder / "templates").glob("*.sms.yaml"):
        found = _REFERENCE.search(path.read_text("utf-8"))
        if found:
            texts[path.name.removesuffix(".sms.yaml")] = found["text"]
    return texts


def provider_templates(channel: str, folder: Path = EXAMPLE) -> dict[str, str]:
    """Template code → approved text, as the provider would hold them for `channel`."""
    texts = reference_sms_texts(folder)
    entry: Any = load_config(folder).channels.channels[channel]
    return {t.template: texts[key] for key, t in entry.templates.items() if key in texts}


def tencent_templates(folder: Path = EXAMPLE) -> dict[str, int]:
    """Tencent template id → its number of parameters."""
    codes = provider_templates("tencent_sms", folder)
    return {code: len(_VARIABLE.findall(text)) for code, text in codes.items()}


def use(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set DUBAN_* variables (names without the prefix); local fakes need no proxy."""
    for name in _PROXIES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(f"DUBAN_{name}", value)


def use_wecom(monkeypatch: pytest.MonkeyPatch, fake: FakeWeCom) -> None:
    use(monkeypatch, WECOM_WEBHOOK_URL=fake.webhook_url)


def use_dingtalk(monkeypatch: pytest.MonkeyPatch, fake: FakeDingTalk) -> None:
    assert fake.secret is not None
    use(monkeypatch, DINGTALK_WEBHOOK_URL=fake.webhook_url, DINGTALK_SECRET=fake.secret)


def use_feishu(monkeypatch: pytest.MonkeyPatch, fake: FakeFeishu) -> None:
    assert fake.secret is not None
    use(monkeypatch, FEISHU_WEBHOOK_URL=fake.webhook_url, FEISHU_SECRET=fake.secret)


def use_aliyun(monkeypatch: pytest.MonkeyPatch, fake: FakeAliyunSms) -> None:
    use(
        monkeypatch,
        ALIYUN_SMS_ENDPOINT=fake.endpoint,
        ALIYUN_ACCESS_KEY_ID=fake.access_key_id,
        ALIYUN_ACCESS_KEY_SECRET=fake.access_key_secret,
        ALIYUN_SMS_SIGN_NAME=SIGN_NAME,
    )


def use_tencent(monkeypatch: pytest.MonkeyPatch, fake: FakeTencentSms) -> None:
    use(
        monkeypatch,
        TENCENT_SMS_ENDPOINT=fake.endpoint,
        TENCENT_SECRET_ID=fake.secret_id,
        TENCENT_SECRET_KEY=fake.secret_key,
        TENCENT_SMS_APP_ID=fake.sdk_app_id,
        TENCENT_SMS_SIGN_NAME=SIGN_NAME,
    )


def use_gateway(monkeypatch: pytest.MonkeyPatch, fake: FakeSmsGateway) -> None:
    use(monkeypatch, SMS_GATEWAY_URL=fake.url, SMS_GATEWAY_TOKEN=fake.token)


def use_webhook(monkeypatch: pytest.MonkeyPatch, fake: FakeWebhookReceiver) -> None:
    use(monkeypatch, WEBHOOK_URL=fake.url, WEBHOOK_SECRET=fake.secret)


def config_with(tmp: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the example config folder whose channels.yaml `edit` changed."""
    folder = tmp / "config"
    shutil.copytree(EXAMPLE, folder)
    channels = yaml.safe_load((folder / "channels.yaml").read_text("utf-8"))
    edit(channels)
    (folder / "channels.yaml").write_text(yaml.safe_dump(channels, allow_unicode=True), "utf-8")
    return folder


def notice(
    n: int,
    *channels: str,
    kind: str = "reminder",
    action: str | None = None,
    person: str = "R1",
    at: datetime | None = None,
) -> NoticeRequested:
    """The n-th test notice to `person` (mobile and email known), tried on `channels`."""
    moment = at or datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    return NoticeRequested(
        notice_id=f"H{n}:rule:step",
        occurrence=0,
        kind=kind,
        action=action,
        subject=f"H{n}",
        due_at=moment,
        recipient=Recipient(
            person_id=person,
            name="王建国",
            role="principal",
            mobile=f"1390000{n % 10000:04d}",
            email=f"{person.lower()}-{n}@unit.example",
        ),
        channels=[ChannelPlan(channel=c) for c in channels],
        facts={**sample_facts(kind, action), "recipient_name": "王建国", "occurrence": 0},
    )


@asynccontextmanager
async def notice_publisher(
    settings: Settings,
) -> AsyncIterator[Callable[[NoticeRequested], Awaitable[None]]]:
    """Publish notices to notice.requested as the engine does (key = notice id)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()

    async def send(item: NoticeRequested) -> None:
        event = make_event(
            "notice.requested", ENGINE_SOURCE, item.notice_id, item, time=item.due_at
        )
        topic = settings.topics.notice_requested
        await producer.send_and_wait(topic, event.to_json(), key=item.notice_id.encode())

    try:
        yield send
    finally:
        await producer.stop()


async def receipts(settings: Settings, at_least: int) -> list[dict[str, Any]]:
    """The receipts' CloudEvents (type and data), once at least `at_least` arrived."""
    records = await read_topic(settings.kafka_bootstrap, settings.topics.notice_receipts, at_least)
    return [json.loads(r.value) for r in records]


def outcomes(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(type, channel, attempts) of receipts, in publication order per notice."""
    return [(e["type"], e["data"]["channel"], e["data"]["attempts"]) for e in events]


async def group_state(bootstrap: str, group: str, members: int) -> bool:
    """Whether consumer group `group` is stable with `members` members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _, _, state, _, _, found, *_ = response.groups[0]
    return bool(state == "Stable" and len(found) == members)
