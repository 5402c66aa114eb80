"""Delivering one notice: retries, fallback, dead letters, deferral, rate limits, the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from services.notifier.channels import DeliveryError, OutboundMessage, SendResult
from services.notifier.deliver import Deliverer
from services.notifier.ledger import Sent
from services.notifier.render import TemplateSet, sample_facts
from services.notifier.retry import RetryPolicy
from tests.fakes import FakeClock, FakeTime

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
OK = SendResult(provider_message_id="m-1", provider_answer="ok")


def server_error() -> DeliveryError:
    return DeliveryError("HTTP 503", retryable=True, provider_code="HTTP 503")


def permanent() -> DeliveryError:
    return DeliveryError("sign not match", retryable=False, provider_code="310000")


@dataclass
class ScriptedChannel:
    """A channel answering from a script: results to return or errors to raise, in turn."""

    name: str
    family: str = "chat"
    script: list[SendResult | DeliveryError] = field(default_factory=list)
    sent: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        answer = self.script.pop(0) if self.script else OK
        if isinstance(answer, DeliveryError):
            raise answer
        return answer

    async def aclose(self) -> None:
        """Nothing to close."""


class MemoryLedger:
    """The delivery ledger's contract, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, str | Sent] = {}
        self.released: list[str] = []

    async def claim(self, key: str, others: Sequence[str] = ()) -> str | tuple[str, Sent]:
        for k in (key, *others):
            value = self.values.get(k)
            # another channel given up in doubt (at None) does not count: this one is next
            if isinstance(value, Sent) and (k == key or value.at is not None):
                return k, value
        if key in self.values:
            return "busy"
        self.values[key] = "sending:me"
        return "claimed"

    async def mark_sent(self, key: str, sent: Sent) -> None:
        self.values[key] = sent

    async def release(self, key: str) -> None:
        self.released.append(key)
        self.values.pop(key, None)


@dataclass
class Outcomes:
    """Records every outcome the deliverer reports."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    receipts: list[Sent] = field(default_factory=list)

    async def delivered(self, notice: Any, channel: str, sent: Sent) -> None:
        self.events.append(("delivered", channel, sent.attempts))
        self.receipts.append(sent)

    async def failed(
        self, notice: Any, channel: str, attempts: int, error: Any, final: bool
    ) -> None:
        self.events.append(("failed", channel, attempts, error.retryable, final))

    async def deferred(self, notice: Any, until: datetime) -> None:
        self.events.append(("deferred", until))

    async def dead_letter(self, notice: Any, reason: str) -> None:
        self.events.append(("dead_letter", reason))


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def notice(*plans: str | ChannelPlan, kind: str = "reminder") -> NoticeRequested:
    return NoticeRequested(
        notice_id="H1:major-reminders:d3",
        occurrence=0,
        kind=kind,
        subject="H1",
        due_at=NOW,
        recipient=Recipient(
            person_id="R1", role="principal", mobile="13900000001", email="r1@unit.example"
        ),
        channels=[p if isinstance(p, ChannelPlan) else ChannelPlan(channel=p) for p in plans],
        facts=sample_facts(kind),
    )


@dataclass
class Harness:
    """A deliverer and the fakes it reports to."""

    deliverer: Deliverer
    ledger: MemoryLedger
    outcomes: Outcomes
    time: FakeTime

    async def deliver(self, notice: NoticeRequested) -> bool:
        return await self.deliverer.deliver(notice)

    @property
    def events(self) -> list[tuple[Any, ...]]:
        return self.outcomes.events


def deliverer(templates: TemplateSet, *channels: ScriptedChannel, **kw: Any) -> Harness:
    time, ledger, outcomes = FakeTime(), MemoryLedger(), Outcomes()
    parts: dict[str, Any] = {
        "channels": {c.name: c for c in channels},
        "templates": templates,
        "ledger": ledger,
        "outcomes": outcomes,
        "clock": FakeClock(NOW),
        "retry": RetryPolicy(max_attempts=5, base_s=0.5, cap_s=30.0, deadline_s=120.0),
        "sms_templates": {"sms": {"reminder": ("SMS_1", ("unit", "title", "deadline", "days"))}},
        "ack_url": lambda _: "https://duban.example/ack?t=x",
        "sleep": time.sleep,
        "monotonic": time.monotonic,
        "unit_random": lambda: 0.5,
    }
    parts.update(kw)
    return Harness(Deliverer(**parts), ledger, outcomes, time)


async def test_the_first_channel_that_accepts_delivers_and_is_recorded(
    templates: TemplateSet,
) -> None:
    wecom, email = ScriptedChannel("wecom"), ScriptedChannel("email", "email")
    d = deliverer(templates, wecom, email)
    await d.deliver(notice("wecom", "email"))
    assert d.events == [("delivered", "wecom", 1)]
    assert len(wecom.sent) == 1 and not email.sent
    assert wecom.sent[0].markdown and "ack?t=x" in wecom.sent[0].markdown
    assert d.ledger.values == {"H1:major-reminders:d3:0:R1:wecom": Sent("m-1", 1, NOW)}


async def test_server_errors_are_retried_with_growing_jittered_delays(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[server_error(), server_error()])
    d = deliverer(templates, wecom)
    await d.deliver(notice("wecom"))
    assert d.events == [("delivered", "wecom", 3)]
    assert d.time.sleeps == [0.25, 0.5]  # half of 0.5, 1.0


async def test_a_permanent_error_falls_back_at_once_without_retrying(
    templates: TemplateSet,
) -> None:
    dingtalk = ScriptedChannel("dingtalk", script=[permanent()])
    email = ScriptedChannel("email", "email")
    d = deliverer(templates, dingtalk, email)
    await d.deliver(notice("dingtalk", "email"))
    assert d.events == [
        ("failed", "dingtalk", 1, False, False),
        ("delivered", "email", 1),
    ]
    assert len(dingtalk.sent) == 1 and d.ledger.released == ["H1:major-reminders:d3:0:R1:dingtalk"]


async def test_timeouts_are_retried_until_the_attempts_run_out_then_fall_back(
    templates: TemplateSet,
) -> None:
    timeout = DeliveryError("timed out after 10s", retryable=True)
    wecom = ScriptedChannel("wecom", script=[timeout] * 5)
    email = ScriptedChannel("email", "email")
    d = deliverer(templates, wecom, email)
    await d.deliver(notice("wecom", "email"))
    assert d.events == [("failed", "wecom", 5, True, False), ("delivered", "email", 1)]


async def test_a_rate_limit_answer_is_waited_out_within_the_deadline(
    templates: TemplateSet,
) -> None:
    limited = DeliveryError("45009", retryable=True, provider_code="45009", retry_after_s=60.0)
    wecom = ScriptedChannel("wecom", script=[limited, limited])
    d = deliverer(templates, wecom)
    await d.deliver(notice("wecom"))
    assert d.events == [("delivered", "wecom", 3)]
    assert d.time.sleeps == [60.0, 60.0]


async def test_a_wait_that_would_pass_the_deadline_falls_back_instead(
    templates: TemplateSet,
) -> None:
    hour = DeliveryError("1h limit", retryable=True, retry_after_s=3600.0)
    sms = ScriptedChannel("sms", "sms", script=[hour])
    email = ScriptedChannel("email", "email")
    d = deliverer(templates, sms, email)
    await d.deliver(notice("sms", "email"))
    assert d.events == [("failed", "sms", 1, True, False), ("delivered", "email", 1)]
    assert d.time.sleeps == []


async def test_when_every_channel_fails_the_notice_is_dead_lettered_with_each_reason(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[permanent()])
    email = ScriptedChannel("email", "email", script=[permanent()])
    d = deliverer(templates, wecom, email)
    await d.deliver(notice("wecom", "aliyun_sms", "email"))
    assert d.events[:2] == [
        ("failed", "wecom", 1, False, False),
        ("failed", "email", 1, False, True),
    ]
    kind, reason = d.events[2]
    assert kind == "dead_letter"
    assert reason.startswith("wecom: sign not match")
    assert "aliyun_sms: channel is off (not configured)" in reason and "email: sign" in reason


async def test_the_last_failure_is_final_when_only_switched_off_channels_follow(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[permanent()])
    d = deliverer(templates, wecom)
    await d.deliver(notice("wecom", "tencent_sms", "email"))
    assert d.events[0] == ("failed", "wecom", 1, False, True)
    assert d.events[1][0] == "dead_letter"


async def test_an_sms_without_a_template_for_the_kind_falls_back(templates: TemplateSet) -> None:
    sms, email = ScriptedChannel("sms", "sms"), ScriptedChannel("email", "email")
    d = deliverer(templates, sms, email)
    await d.deliver(notice("sms", "email", kind="closure"))
    assert d.events == [("failed", "sms", 1, False, False), ("delivered", "email", 1)]
    assert not sms.sent


async def test_sms_carries_the_configured_template_and_parameters(templates: TemplateSet) -> None:
    sms = ScriptedChannel("sms", "sms")
    d = deliverer(templates, sms)
    await d.deliver(notice("sms"))
    message = sms.sent[0]
    assert message.sms_template == "SMS_1" and message.to_mobile == "13900000001"
    assert list(message.sms_params) == ["unit", "title", "deadline", "days"]
    assert all(message.sms_params.values())


async def test_quiet_hours_hold_the_notice_and_send_nothing(templates: TemplateSet) -> None:
    sms = ScriptedChannel("sms", "sms")
    later = NOW + timedelta(hours=8)
    d = deliverer(templates, sms, ScriptedChannel("email", "email"))
    await d.deliver(notice(ChannelPlan(channel="sms", not_before=later), "email"))
    assert d.events == [("deferred", later)] and not sms.sent


async def test_a_notice_delivered_on_a_later_channel_is_not_sent_again(
    templates: TemplateSet,
) -> None:
    wecom, email = ScriptedChannel("wecom"), ScriptedChannel("email", "email")
    d = deliverer(templates, wecom, email)
    earlier = Sent("earlier", 2, NOW - timedelta(minutes=5))
    d.ledger.values["H1:major-reminders:d3:0:R1:email"] = earlier
    await d.deliver(notice("wecom", "email"))
    assert not wecom.sent and not email.sent
    # The receipt is published again, identical: a crash may have come before it.
    assert d.events == [("delivered", "email", 2)] and d.outcomes.receipts == [earlier]


async def test_a_record_without_a_time_sends_nothing_and_publishes_nothing(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom")
    d = deliverer(templates, wecom)
    d.ledger.values["H1:major-reminders:d3:0:R1:wecom"] = Sent("id-only", 1, None)
    await d.deliver(notice("wecom"))
    assert d.events == [] and not wecom.sent


async def test_a_delivery_sent_by_another_replica_meanwhile_gets_its_receipt(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom")
    theirs = Sent("theirs", 1, NOW)

    class SentMeanwhile(MemoryLedger):
        async def claim(self, key: str, others: Sequence[str] = ()) -> tuple[str, Sent]:
            self.values[key] = theirs  # the other replica finished just before our claim
            return key, theirs

    d = deliverer(templates, wecom, ledger=SentMeanwhile())
    await d.deliver(notice("wecom"))
    assert not wecom.sent and d.outcomes.receipts == [theirs]
