"""What the acknowledgement service learns from SMS providers, and what it publishes.

* A delivery report is matched to its delivery (OutId = our delivery key, or the provider's
  BizId / sid) and settled once (services.sms.awaiting: providers push a report more than
  once). "Reached" publishes ``notice.reached`` to the receipts topic, one event id per
  delivery; "failed" makes the delivery due at once, and the notifier publishes
  ``notice.failed`` (after acceptance) and sends the notice on the person's next channel.
* A reply carrying a live code from the mobile it was sent to publishes
  ``notice.acknowledged`` (``channel: sms_reply``) with the same event id a link's
  acknowledgement has, so the engine keeps one of them; then the code is used up. A reply
  with no code, a wrong, expired or another mobile's code, or a used one acknowledges
  nothing and is logged with the mobile masked and the code shortened.

Redis or Kafka trouble propagates (the callback answers 503 and the provider pushes
again); each step is keyed, so a push taken again changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from contracts.notice import NoticeAcknowledged, NoticeReached
from contracts.registry import Event, make_event
from contracts.topics import Topics
from services.ack.acked import AckedStore
from services.clock import Clock
from services.masking import mask_mobile
from services.sms.awaiting import Awaiting, AwaitingStore
from services.sms.pushes import DeliveryReport, UplinkSms
from services.sms.replycodes import CodeOwner, ReplyCodes, codes_in

log = logging.getLogger("duban.ack")
ACK_SOURCE = "urn:duban:ack"
SMS_REPLY = "sms_reply"  # notice.acknowledged `channel` of an acknowledgement by reply
JSON_HEADERS = {"content-type": "application/json"}
_WORSE_FIRST = ("replayed", "expired", "unknown_code")  # the reply outcome to log and count


class Publisher(Protocol):
    """What publishing needs of the Kafka broker (FastStream's KafkaBroker has it)."""

    async def publish(
        self, message: bytes, topic: str, *, key: bytes, headers: dict[str, str]
    ) -> Any: ...


@dataclass
class SmsFollowUp:
    """Takes delivery reports and replies; publishes receipts and acknowledgements."""

    publisher: Publisher
    topics: Topics
    awaiting: AwaitingStore
    codes: ReplyCodes
    clock: Clock
    acknowledgement_id: Callable[[str, str], str]  # services.ack.app's rule, one per person
    acked: AckedStore | None = None  # what the page shows as confirmed (services.ack.acked)
    publish_timeout_s: float = 5.0

    async def report(self, report: DeliveryReport) -> str:
        """Settle a delivery with its report; the outcome (SMS_REPORT_OUTCOMES)."""
        now = self.clock.now()
        key = await self.awaiting.find(report)
        taken, item = (
            ("unknown", None) if key is None else await self.awaiting.take_report(key, report, now)
        )
        if taken == "duplicate":
            return "duplicate"
        if item is None:  # unknown, or another mobile's report of it
            log.info(
                "%s delivery report %s for no delivery awaiting one (%s, %s)",
                report.provider,
                report.provider_id or "-",
                mask_mobile(report.mobile or ""),
                taken,
            )
            return "unmatched"
        if item.report != "reached":
            return "failed"  # the notifier sends it on (services.notifier.followup)
        await self._publish(self.topics.notice_receipts, _reached(item, now))
        await self.awaiting.receipt_published(item.delivery_key)
        return "reached"

    async def reply(self, sms: UplinkSms) -> str:
        """Acknowledge the notice whose live code a reply carries; the outcome
        (SMS_REPLY_OUTCOMES)."""
        now = self.clock.now()
        found = codes_in(sms.text)
        outcomes = []
        for code in found:
            lookup, owner = await self.codes.look_up(sms.mobile, code, now)
            if lookup == "live" and owner is not None:
                outcome = await self._acknowledge(owner, min(sms.sent_at or now, now))
                await self.codes.acknowledged(sms.mobile, code, now)
                return outcome
            outcomes.append("unknown_code" if lookup == "unknown" else lookup)
        outcome = next((o for o in _WORSE_FIRST if o in outcomes), "no_code")
        log.info(
            "%s reply from %s acknowledged nothing: %s (%s)",
            sms.provider,
            mask_mobile(sms.mobile),
            outcome,
            ", ".join(_shortened(c) for c in found) or "no digits",
        )
        return outcome

    async def _acknowledge(self, owner: CodeOwner, at: datetime) -> str:
        """Publish the acknowledgement, unless the page took it already ("replayed")."""
        event_id = self.acknowledgement_id(owner.notice_id, owner.person_id)
        if self.acked is not None and await self.acked.taken_at(event_id) is not None:
            return "replayed"
        data = NoticeAcknowledged(
            notice_id=owner.notice_id,
            person_id=owner.person_id,
            acknowledged_at=at,
            channel=SMS_REPLY,
        )
        event = make_event(
            "notice.acknowledged", ACK_SOURCE, owner.notice_id, data, time=at, id=event_id
        )
        await self._publish(self.topics.notice_acks, event)
        if self.acked is not None:
            await self.acked.remember(event_id, at)
        return "acknowledged"

    async def _publish(self, topic: str, event: Event[Any]) -> None:
        async with asyncio.timeout(self.publish_timeout_s):
            await self.publisher.publish(
                event.to_json(), topic, key=event.subject.encode(), headers=JSON_HEADERS
            )


def _reached(item: Awaiting, now: datetime) -> Event[Any]:
    """The notice.reached receipt of a delivery (one event id per delivery)."""
    notice = item.notice
    data = NoticeReached(
        notice_id=notice.notice_id,
        occurrence=notice.occurrence,
        person_id=notice.recipient.person_id,
        channel=item.channel,
        attempts=item.attempts,
        reached_at=item.reported_at or now,
        provider_message_id=item.provider_id,
    )
    event_id = f"{item.delivery_key}@reached"
    return make_event("notice.reached", ACK_SOURCE, notice.notice_id, data, time=now, id=event_id)


def _shortened(code: str) -> str:
    """A code as the log may show it: its first digit only."""
    return code[:1] + "*" * (len(code) - 1)
