"""A send cut off midway is in doubt: resent where the provider drops a repeat of our key;
elsewhere counted, reported and sent once more, never a third time on that channel (the
next channel is tried); receipts go out once per delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from services.notifier.channels import DeliveryError, OutboundMessage, SendResult
from services.notifier.ledger import Sent
from services.notifier.render import TemplateSet
from tests.stack import wait_until_async
from tests.unit.test_notifier_deliver import (
    NOW,
    Harness,
    MemoryLedger,
    Outcomes,
    ScriptedChannel,
    deliverer,
    notice,
    templates,
)

__all__ = ["templates"]  # the module-scoped fixture, shared
KEY = "H1:major-reminders:d3:0:R1:email"


class SendingLedger(MemoryLedger):
    """The ledger's contract with its notes of sends begun (the "try" keys), in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.tries: dict[str, str] = {}  # delivery key: "try" or "again"
        self.lost: set[str] = set()  # leases that expire before the send begins...
        self.taken_over = True  # ...and another replica then sends it (else nobody does)
        self.abandoned: list[str] = []

    async def claim(self, key: str, others: Sequence[str] = ()) -> str | tuple[str, Sent]:
        answer = await super().claim(key, others)
        if answer == "claimed" and key in self.tries:
            return "doubt_again" if self.tries[key] == "again" else "doubt"
        return answer

    async def sending(self, key: str, again: bool = False) -> bool:
        if key in self.lost:
            self.lost.discard(key)
            if self.taken_over:  # the other replica's send, receipt and all
                self.values[key] = Sent("m-other", 1, NOW, receipted=True)
            else:  # expired, and nobody claimed it since
                self.values.pop(key, None)
            return False
        self.tries[key] = "again" if again else "try"
        return True

    async def mark_sent(self, key: str, sent: Sent) -> None:
        self.tries.pop(key, None)
        await super().mark_sent(key, sent)

    async def mark_doubt(self, key: str, attempts: int, at: datetime) -> None:
        self.tries.pop(key, None)
        self.values[key] = Sent(None, attempts, None, receipted=True)

    async def release(self, key: str) -> None:
        self.tries.pop(key, None)
        await super().release(key)

    def abandon(self, key: str) -> None:
        self.abandoned.append(key)


@dataclass
class DoubtOutcomes(Outcomes):
    async def in_doubt(self, notice: object, channel: str, final: bool) -> None:
        self.events.append(("in_doubt", channel, final))

    async def no_answer(self, notice: object, channel: str) -> None:
        self.events.append(("no_answer", channel))


@dataclass
class DedupingChannel(ScriptedChannel):
    dedupes_by_key = True


def with_ledger(
    templates: TemplateSet, *channels: ScriptedChannel
) -> tuple[Harness, SendingLedger]:
    """A deliverer on the ledger above, reporting to DoubtOutcomes."""
    ledger, outcomes = SendingLedger(), DoubtOutcomes()
    harness = deliverer(templates, *channels, ledger=ledger, outcomes=outcomes)
    harness.ledger, harness.outcomes = ledger, outcomes
    return harness, ledger


async def test_a_cut_off_email_is_counted_in_doubt_and_sent_once_more(
    templates: TemplateSet,
) -> None:
    email = ScriptedChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    ledger.tries[KEY] = "try"  # an earlier replica began the send and died
    await d.deliver(notice("email", "webhook"))
    assert [m.delivery_key for m in email.sent] == [KEY]
    assert d.events == [("in_doubt", "email", False), ("delivered", "email", 1)]
    assert ledger.values[KEY] == Sent("m-1", 1, NOW, receipted=True) and KEY not in ledger.tries
    counted = d.deliverer.metrics.get_sample_value(
        "duban_notifier_in_doubt_total", {"channel": "email"}
    )
    assert counted == 1
    await d.deliver(notice("email", "webhook"))  # redelivered: found sent, nothing more
    assert len(email.sent) == 1 and len(d.events) == 2


async def test_an_email_whose_resend_was_cut_off_too_goes_on_to_the_next_channel(
    templates: TemplateSet,
) -> None:
    email, hook = ScriptedChannel("email", "email"), ScriptedChannel("webhook", "webhook")
    d, ledger = with_ledger(templates, email, hook)
    ledger.tries[KEY] = "again"  # the resend in doubt was cut off as well
    await d.deliver(notice("email", "webhook"))
    assert email.sent == []  # never a third time on email
    hook_key = KEY.replace(":email", ":webhook")
    assert [m.delivery_key for m in hook.sent] == [hook_key]
    assert d.events == [("in_doubt", "email", False), ("delivered", "webhook", 1)]
    assert ledger.values[KEY] == Sent(None, 2, None, receipted=True) and KEY not in ledger.tries
    await d.deliver(notice("email", "webhook"))  # redelivered: both channels found done
    assert email.sent == [] and len(hook.sent) == 1 and len(d.events) == 2


async def test_a_notice_redelivered_after_its_email_was_given_up_is_sent_on_the_next(
    templates: TemplateSet,
) -> None:
    email, hook = ScriptedChannel("email", "email"), ScriptedChannel("webhook", "webhook")
    d, ledger = with_ledger(templates, email, hook)
    # given up in doubt on email, then the replica died before trying the webhook
    ledger.values[KEY] = Sent(None, 2, None, receipted=True)
    await d.deliver(notice("email", "webhook"))
    assert email.sent == [] and len(hook.sent) == 1
    assert d.events == [("delivered", "webhook", 1)]


async def test_an_email_whose_resend_was_cut_off_on_its_last_channel_ends_in_doubt(
    templates: TemplateSet,
) -> None:
    email = ScriptedChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    ledger.tries[KEY] = "again"
    await d.deliver(notice("email"))
    assert email.sent == []
    assert d.events == [("in_doubt", "email", True)]  # final: nothing left to try
    assert ledger.values[KEY] == Sent(None, 2, None, receipted=True) and KEY not in ledger.tries
    await d.deliver(notice("email"))
    assert email.sent == [] and d.events == [("in_doubt", "email", True)]


async def test_a_cut_off_send_is_repeated_where_the_provider_drops_repeats(
    templates: TemplateSet,
) -> None:
    hook = DedupingChannel("webhook", "webhook")
    d, ledger = with_ledger(templates, hook)
    key = "H1:major-reminders:d3:0:R1:webhook"
    ledger.tries[key] = "again"  # even cut off twice: the receiver drops a repeat
    await d.deliver(notice("webhook"))
    assert [m.delivery_key for m in hook.sent] == [key]
    assert d.events == [("delivered", "webhook", 1)]
    assert ledger.values[key] == Sent("m-1", 1, NOW, receipted=True)


async def test_a_receipt_is_published_once_however_often_the_notice_comes_back(
    templates: TemplateSet,
) -> None:
    email = ScriptedChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    for _ in range(3):
        await d.deliver(notice("email"))
    assert len(email.sent) == 1 and d.events == [("delivered", "email", 1)]
    assert ledger.values[KEY] == Sent("m-1", 1, NOW, receipted=True)


async def test_a_receipt_not_yet_out_is_published_again_once(templates: TemplateSet) -> None:
    email = ScriptedChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    ledger.values[KEY] = Sent("m-0", 2, NOW)  # sent, then the replica died before the receipt
    await d.deliver(notice("email"))
    await d.deliver(notice("email"))
    assert email.sent == [] and d.events == [("delivered", "email", 2)]


async def test_a_lease_lost_before_the_send_leaves_the_delivery_to_its_new_owner(
    templates: TemplateSet,
) -> None:
    email = ScriptedChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    ledger.lost.add(KEY)  # frozen past the lease between the claim and the send
    await d.deliver(notice("email"))
    assert email.sent == [] and d.events == []  # claimed again: found sent by the other


async def test_a_lease_lost_that_nobody_took_over_is_claimed_again_and_sent(
    templates: TemplateSet,
) -> None:
    email = ScriptedChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    ledger.lost.add(KEY)  # frozen past the lease; no other replica had the notice
    ledger.taken_over = False
    await d.deliver(notice("email"))
    assert [m.delivery_key for m in email.sent] == [KEY]
    assert d.events == [("delivered", "email", 1)]


class HangingChannel(ScriptedChannel):
    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        await asyncio.Event().wait()
        raise AssertionError("never answers")


async def test_a_send_cancelled_midway_is_left_in_doubt_not_released(
    templates: TemplateSet,
) -> None:
    email = HangingChannel("email", "email")
    d, ledger = with_ledger(templates, email)
    task = asyncio.create_task(d.deliver(notice("email")))
    await wait_until_async(lambda: email.sent, what="the send under way")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.abandoned == [KEY] and ledger.released == [] and KEY in ledger.tries


@dataclass
class AskableSms(ScriptedChannel):
    """An SMS provider that can be asked whether it took a delivery key."""

    has: SendResult | None = None
    cannot_tell: bool = False
    asked: list[str] = field(default_factory=list)

    async def sent_before(self, message: OutboundMessage) -> SendResult | None:
        self.asked.append(message.delivery_key)
        if self.cannot_tell:
            raise DeliveryError("query failed", retryable=True)
        return self.has


SMS_KEY = "H1:major-reminders:d3:0:R1:sms"


async def test_a_provider_that_has_the_cut_off_send_is_believed(templates: TemplateSet) -> None:
    sms = AskableSms("sms", "sms", has=SendResult("biz-1", "ok"))
    d, ledger = with_ledger(templates, sms)
    ledger.tries[SMS_KEY] = "try"
    await d.deliver(notice("sms"))
    assert sms.asked == [SMS_KEY] and sms.sent == []  # recorded as sent, not sent again
    assert d.events == [("delivered", "sms", 1)]
    assert isinstance(ledger.values[SMS_KEY], Sent)


async def test_a_provider_without_it_gets_it_again_not_in_doubt(templates: TemplateSet) -> None:
    sms = AskableSms("sms", "sms")
    d, ledger = with_ledger(templates, sms)
    ledger.tries[SMS_KEY] = "try"
    await d.deliver(notice("sms"))
    assert len(sms.sent) == 1 and d.events == [("delivered", "sms", 1)]
    assert ledger.tries == {}  # a fresh send, not a resend in doubt


async def test_a_provider_that_cannot_tell_leaves_it_in_doubt(templates: TemplateSet) -> None:
    sms = AskableSms("sms", "sms", cannot_tell=True)
    d, ledger = with_ledger(templates, sms)
    ledger.tries[SMS_KEY] = "try"
    await d.deliver(notice("sms"))
    assert d.events == [("in_doubt", "sms", False), ("delivered", "sms", 1)]


async def test_a_retry_after_the_lease_was_lost_is_not_sent(templates: TemplateSet) -> None:
    """A replica frozen past its lease between two attempts: another one owns the delivery
    now, so this one does not retry the send."""
    d, ledger = with_ledger(templates, ScriptedChannel("email", "email"))
    email = d.deliverer.channels["email"]

    async def frozen_then_wakes(message: OutboundMessage) -> SendResult:
        email.sent.append(message)  # type: ignore[attr-defined]
        ledger.lost.add(message.delivery_key)  # meanwhile another replica took it over
        raise DeliveryError("timed out", retryable=True)

    email.send = frozen_then_wakes  # type: ignore[method-assign]
    await d.deliver(notice("email"))
    assert len(email.sent) == 1  # type: ignore[attr-defined]
    assert d.events == []  # left to its new owner: no receipt from this replica
