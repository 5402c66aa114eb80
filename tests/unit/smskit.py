"""The SMS loop in memory: a deliverer whose SMS channels answer from a script, the notifier's
follow-up and the ack service's taker on the same in-memory stores, a fake clock, and
recorders for receipts, fallbacks and what the ack side publishes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from contracts.topics import Topics
from services.ack.app import acknowledgement_id
from services.ack.sms import SmsFollowUp
from services.guard import Record
from services.notifier.channels import OutboundMessage, SendResult
from services.notifier.deliver import Deliverer
from services.notifier.followup import FollowUp
from services.notifier.intake import Intake, follow_up_once
from services.notifier.ledger import Sent
from services.notifier.render import TemplateSet, sample_facts
from services.notifier.retry import RetryPolicy
from services.sms.memory import MemoryAwaiting, MemoryReplyCodes
from services.sms.pushes import DeliveryReport, UplinkSms
from tests.fakes import FakeClock, FakeTime

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
MOBILE = "13900000001"
TOPICS = Topics()
# channel → kind → (template, params), as channels.yaml would give them
SMS_TEMPLATES = {
    name: {
        "escalation.letter": ("T-letter", ("unit", "level", "title", "overdue", "code")),
        "closure": ("T-closure", ("unit", "title")),
    }
    for name in ("aliyun_sms", "tencent_sms", "sms_gateway")
}


@dataclass
class SmsChannel:
    """An SMS channel answering every send with a new provider message id."""

    name: str
    report_provider: str | None
    family: str = "sms"
    sent: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(f"{self.name}-{len(self.sent)}", "OK")

    async def aclose(self) -> None:
        """Nothing to close."""


@dataclass
class MailChannel:
    name: str = "email"
    family: str = "email"
    sent: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(None, "250 OK")

    async def aclose(self) -> None:
        """Nothing to close."""


class Ledger:
    """The delivery ledger's contract, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, str | Sent] = {}

    async def claim(self, key: str, others: Sequence[str] = ()) -> str | tuple[str, Sent]:
        for k in (key, *others):
            value = self.values.get(k)
            if isinstance(value, Sent):
                return k, value
        if key in self.values:
            return "busy"
        self.values[key] = "sending"
        return "claimed"

    async def mark_sent(self, key: str, sent: Sent) -> None:
        self.values[key] = sent

    async def release(self, key: str) -> None:
        self.values.pop(key, None)


@dataclass
class Outcomes:
    """Records every outcome."""

    events: list[tuple[Any, ...]] = field(default_factory=list)

    async def delivered(self, notice: NoticeRequested, channel: str, sent: Sent) -> None:
        self.events.append(("delivered", channel))

    async def failed(
        self, notice: Any, channel: str, attempts: int, error: Any, final: bool
    ) -> None:
        self.events.append(("failed", channel, str(error), final))

    async def failed_after_acceptance(
        self, notice: NoticeRequested, channel: str, attempts: int, reason: str, final: bool
    ) -> None:
        self.events.append(("failed_after_acceptance", channel, reason, final))

    async def deferred(self, notice: NoticeRequested, until: datetime) -> None:
        self.events.append(("deferred", until))

    async def dead_letter(self, notice: NoticeRequested, reason: str) -> None:
        self.events.append(("dead_letter", reason))


@dataclass
class Broker:
    """Records what the ack side publishes; fails the next publishes when told."""

    published: list[tuple[str, dict[str, Any], bytes]] = field(default_factory=list)
    fail_next: int = 0

    async def publish(
        self, message: bytes, topic: str, *, key: bytes, headers: dict[str, str]
    ) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("Kafka is down")
        self.published.append((topic, json.loads(message), key))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for _, event, _ in self.published if event["type"] == event_type]


@dataclass
class Loop:
    """Both sides of the SMS loop on shared in-memory stores."""

    clock: FakeClock
    channels: dict[str, Any]
    deliverer: Deliverer
    intake: Intake
    outcomes: Outcomes
    ack: SmsFollowUp
    broker: Broker
    awaiting: MemoryAwaiting
    codes: MemoryReplyCodes

    async def deliver(self, notice: NoticeRequested) -> None:
        await self.intake.notice(notice)

    async def follow_up(self) -> int:
        return await follow_up_once(self.intake)

    def later(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    def sms(self, name: str = "aliyun_sms") -> list[OutboundMessage]:
        sent: list[OutboundMessage] = self.channels[name].sent
        return sent

    @property
    def mail(self) -> list[OutboundMessage]:
        sent: list[OutboundMessage] = self.channels["email"].sent
        return sent


def loop(templates: TemplateSet, gateway_timeout: bool = False) -> Loop:
    clock, outcomes, broker = FakeClock(NOW), Outcomes(), Broker()
    awaiting, codes = MemoryAwaiting(), MemoryReplyCodes()
    channels: dict[str, Any] = {
        "aliyun_sms": SmsChannel("aliyun_sms", "aliyun"),
        "tencent_sms": SmsChannel("tencent_sms", "tencent"),
        "sms_gateway": SmsChannel("sms_gateway", None),
        "email": MailChannel(),
    }
    followup = FollowUp(awaiting, codes, clock, gateway_timeout=gateway_timeout)
    time = FakeTime()
    deliverer = Deliverer(
        channels=channels,
        templates=templates,
        ledger=Ledger(),
        outcomes=outcomes,
        clock=clock,
        retry=RetryPolicy(),
        sms_templates=SMS_TEMPLATES,
        ack_url=lambda _: None,
        sleep=time.sleep,
        monotonic=time.monotonic,
        followup=followup,
    )

    async def dead_letter(record: Record, reason: str) -> None:
        outcomes.events.append(("dead_record", reason))

    intake = Intake(deliverer, dead_letter)
    ack = SmsFollowUp(broker, TOPICS, awaiting, codes, clock, acknowledgement_id)
    return Loop(clock, channels, deliverer, intake, outcomes, ack, broker, awaiting, codes)


def notice(
    *channels: str,
    kind: str = "escalation",
    action: str | None = "letter",
    occurrence: int = 0,
    person: str = "R1",
    mobile: str = MOBILE,
    notice_id: str = "H1:major-overdue:letter:2026-08-31",
) -> NoticeRequested:
    return NoticeRequested(
        notice_id=notice_id,
        occurrence=occurrence,
        kind=kind,
        action=action if kind in ("escalation", "duty") else None,
        subject="H1",
        due_at=NOW,
        recipient=Recipient(
            person_id=person, role="principal", mobile=mobile, email="r1@unit.example"
        ),
        channels=[ChannelPlan(channel=c) for c in channels],
        facts=sample_facts(kind, action if kind in ("escalation", "duty") else None),
    )


def report(
    key: str | None,
    *,
    success: bool = True,
    provider_id: str | None = None,
    mobile: str | None = MOBILE,
    code: str | None = None,
    provider: str = "aliyun",
) -> DeliveryReport:
    return DeliveryReport(
        provider=provider,  # type: ignore[arg-type]
        delivery_key=key,
        provider_id=provider_id,
        mobile=mobile,
        success=success,
        code=code or ("DELIVERED" if success else "MBBLACK"),
        description="用户接收成功" if success else "黑名单",
        reported_at=NOW + timedelta(seconds=7),
    )


def reply(text: str, mobile: str = MOBILE, provider: str = "aliyun") -> UplinkSms:
    return UplinkSms(provider, mobile, text, NOW + timedelta(minutes=1))  # type: ignore[arg-type]
