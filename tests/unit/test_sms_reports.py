"""SMS delivery reports in memory: matched to their delivery, taken once, recorded as
notice.reached; a failure report, or none in time, sends the notice on the person's next
channel with notice.failed (after acceptance); the generic gateway waits only when told."""

from __future__ import annotations

import pytest

from services.notifier.render import TemplateSet
from tests.unit.smskit import EXAMPLE, MOBILE, Loop, loop, notice, report

KEY = "H1:major-overdue:letter:2026-08-31:0:R1:aliyun_sms"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


@pytest.fixture
async def sent(templates: TemplateSet) -> Loop:
    """An escalation letter accepted by Aliyun (then email, then nothing)."""
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms", "email"))
    assert lp.outcomes.events == [("delivered", "aliyun_sms")]
    return lp


async def test_a_delivered_report_pushed_twice_publishes_one_reached_receipt(sent: Loop) -> None:
    assert await sent.ack.report(report(KEY, provider_id="aliyun_sms-1")) == "reached"
    assert await sent.ack.report(report(KEY, provider_id="aliyun_sms-1")) == "duplicate"
    [(topic, event, key)] = sent.broker.published
    assert topic == "notice.receipts" and event["type"] == "notice.reached"
    assert event["id"] == f"{KEY}@reached" and key == b"H1:major-overdue:letter:2026-08-31"
    data = event["data"]
    assert (data["channel"], data["person_id"], data["occurrence"]) == ("aliyun_sms", "R1", 0)
    assert data["provider_message_id"] == "aliyun_sms-1"
    assert data["reached_at"] == "2026-09-01T02:00:07Z"
    sent.later(hours=1)  # long past the wait: a delivery that reached stays where it is
    assert await sent.follow_up() == 0
    assert sent.mail == [] and sent.outcomes.events == [("delivered", "aliyun_sms")]


async def test_a_report_without_our_out_id_is_matched_by_the_providers_message_id(
    sent: Loop,
) -> None:
    assert await sent.ack.report(report(None, provider_id="aliyun_sms-1")) == "reached"
    assert sent.broker.of_type("notice.reached")[0]["id"] == f"{KEY}@reached"


@pytest.mark.parametrize(
    "unmatched",
    [
        report(None, provider_id="aliyun_sms-99"),  # another message
        report(None, provider_id="aliyun_sms-1", provider="tencent"),  # another provider's id
        report(KEY, mobile="13900000002"),  # another mobile's report of our key
    ],
)
async def test_a_report_for_no_awaited_delivery_records_nothing(sent: Loop, unmatched) -> None:
    assert await sent.ack.report(unmatched) == "unmatched"
    assert sent.broker.published == []


async def test_a_failure_report_sends_the_notice_on_by_email_once(sent: Loop) -> None:
    failure = report(KEY, success=False, code="MBBLACK")
    assert await sent.ack.report(failure) == "failed"
    assert await sent.ack.report(failure) == "duplicate"
    assert sent.broker.published == []  # the notifier publishes the failure, with `final`
    assert await sent.follow_up() == 1
    assert sent.outcomes.events == [
        ("delivered", "aliyun_sms"),
        ("failed_after_acceptance", "aliyun_sms", "delivery report MBBLACK: 黑名单", False),
        ("delivered", "email"),
    ]
    assert len(sent.mail) == 1 and len(sent.sms()) == 1
    sent.later(hours=1)
    assert await sent.follow_up() == 0 and len(sent.mail) == 1


async def test_no_report_in_time_sends_the_notice_on(sent: Loop) -> None:
    sent.later(minutes=9, seconds=59)
    assert await sent.follow_up() == 0 and sent.mail == []
    sent.later(seconds=1)
    assert await sent.follow_up() == 1
    assert sent.outcomes.events[1:] == [
        ("failed_after_acceptance", "aliyun_sms", "no delivery report within 10 minutes", False),
        ("delivered", "email"),
    ]
    # The handset comes back on later: the report is still a fact; nothing is sent again.
    assert await sent.ack.report(report(KEY)) == "reached"
    assert len(sent.broker.of_type("notice.reached")) == 1
    assert await sent.follow_up() == 0 and len(sent.mail) == 1


async def test_the_fallback_skips_the_other_sms_channels_for_the_same_handset(
    templates: TemplateSet,
) -> None:
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms", "tencent_sms", "sms_gateway", "email"))
    assert await lp.ack.report(report(KEY, success=False)) == "failed"
    await lp.follow_up()
    assert lp.sms("tencent_sms") == [] and lp.sms("sms_gateway") == []
    assert len(lp.mail) == 1


async def test_with_no_channel_left_the_notice_is_dead_lettered(templates: TemplateSet) -> None:
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms"))
    await lp.ack.report(report(KEY, success=False, code="UNDELIV"))
    await lp.follow_up()
    assert lp.outcomes.events[1:] == [
        ("failed_after_acceptance", "aliyun_sms", "delivery report UNDELIV: 黑名单", True),
        ("dead_letter", "aliyun_sms: delivery report UNDELIV: 黑名单; no channel left"),
    ]


async def test_a_receipt_kafka_did_not_take_is_published_when_the_report_comes_again(
    sent: Loop,
) -> None:
    sent.broker.fail_next = 1
    with pytest.raises(ConnectionError):  # the callback answers 503: the provider pushes again
        await sent.ack.report(report(KEY))
    assert await sent.ack.report(report(KEY)) == "reached"
    assert await sent.ack.report(report(KEY)) == "duplicate"
    assert len(sent.broker.of_type("notice.reached")) == 1


async def test_a_redelivered_notice_waits_again_only_while_its_report_may_come(
    templates: TemplateSet,
) -> None:
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms", "email"))
    lp.awaiting.items.clear()  # as if the notifier died before it started waiting
    lp.awaiting.give_up.clear()
    await lp.deliver(notice("aliyun_sms", "email"))  # Kafka redelivers it
    assert len(lp.sms()) == 1 and KEY in lp.awaiting.items
    lp.awaiting.items.clear()
    lp.awaiting.give_up.clear()
    lp.later(minutes=11)
    await lp.deliver(notice("aliyun_sms", "email"))  # a dead letter replayed much later
    assert lp.awaiting.items == {}


async def test_the_gateway_sends_no_reports_so_its_sms_waits_only_when_told(
    templates: TemplateSet,
) -> None:
    quiet, told = loop(templates), loop(templates, gateway_timeout=True)
    for lp in (quiet, told):
        await lp.deliver(notice("sms_gateway", "email"))
        lp.later(minutes=10)
        await lp.follow_up()
    assert quiet.mail == [] and quiet.awaiting.items == {}
    assert len(told.mail) == 1


async def test_an_accepted_sms_waits_with_what_a_fallback_needs(sent: Loop) -> None:
    item = sent.awaiting.items[KEY]
    assert (item.channel, item.provider, item.provider_id) == (
        "aliyun_sms",
        "aliyun",
        "aliyun_sms-1",
    )
    assert item.mobile == MOBILE and item.notice.recipient.person_id == "R1"
    assert [p.channel for p in item.notice.channels] == ["aliyun_sms", "email"]
