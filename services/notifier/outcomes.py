"""Kafka side of delivery outcomes: receipts, deferrals and the notices dead-letter topic.

Receipts and dead letters go out through the notifier's FastStream broker. Each receipt
is awaited, so it returns only after the broker confirmed it; receipts of concurrent
deliveries go out together, one FastStream batch per partition and one confirmation per
batch (services.grouppublish).
"""

from __future__ import annotations

from datetime import datetime

from contracts.common import escape_controls
from contracts.notice import NoticeDelivered, NoticeFailed, NoticeRequested
from contracts.registry import make_event
from contracts.topics import DLQ_HEADER_REASON
from services.clock import Clock
from services.kafka import JSON_HEADERS, Publisher
from services.masking import redact
from services.notifier.channels import DeliveryError
from services.notifier.deferred import DeferredStore
from services.notifier.ledger import Sent

NOTIFIER_SOURCE = "urn:duban:notifier"
IN_DOUBT_RESENT = (
    "in doubt: the send was cut off (its notifier stopped mid-send); sent once more, the "
    "person may get it twice (发送中断，已重发一次，对方可能收到两次)"
)
IN_DOUBT_GIVEN_UP = (
    "in doubt: the send and its one resend were cut off; the person may have it, so it is "
    "not sent again (发送与重发均中断，对方可能已收到，不再重发)"
)

IN_DOUBT_NO_ANSWER = (
    "in doubt: the provider did not answer a send and may have the message; it was sent "
    "again, the person may get it twice (服务商未应答，可能已收到；已再次发送，对方可能收到两次)"
)


class KafkaOutcomes:
    """Publishes a receipt for every outcome, awaiting the broker's confirmation."""

    def __init__(
        self,
        receipts: Publisher,
        dead_letters: Publisher,
        deferred: DeferredStore,
        clock: Clock,
    ) -> None:
        self.receipts = receipts  # to notice.receipts
        self.dead_letters = dead_letters  # to the notices dead-letter topic
        self.deferred_store = deferred
        self.clock = clock

    async def delivered(self, notice: NoticeRequested, channel: str, sent: Sent) -> None:
        """Publish notice.delivered (its id and content follow from the ledger record)."""
        data = NoticeDelivered(
            notice_id=notice.notice_id,
            occurrence=notice.occurrence,
            person_id=notice.recipient.person_id,
            channel=channel,
            attempts=sent.attempts,
            delivered_at=sent.at or self.clock.now(),
            provider_message_id=_line(sent.provider_message_id),
        )
        await self._receipt("notice.delivered", data.delivery_key(), data, data.delivered_at)

    async def failed(
        self,
        notice: NoticeRequested,
        channel: str,
        attempts: int,
        error: DeliveryError,
        final: bool,
    ) -> None:
        """Publish notice.failed (its reason masked: a provider may echo a secret)."""
        reason = redact(str(error), limit=500)
        await self._failure(
            notice, channel, f"@{attempts}", attempts, reason, error.retryable, final
        )

    async def failed_after_acceptance(
        self, notice: NoticeRequested, channel: str, attempts: int, reason: str, final: bool
    ) -> None:
        """Publish notice.failed for a message the provider had accepted: its delivery
        report failed, or none came in time. One event id per delivery."""
        masked = redact(reason, limit=500)
        await self._failure(notice, channel, "@report", attempts, masked, False, final, True)

    async def no_answer(self, notice: NoticeRequested, channel: str) -> None:
        """Publish a non-final notice.failed: a send of the delivery on `channel` got no
        answer and the delivery went on (a resend, the next channel, a later try). One
        event id per delivery and channel."""
        await self._failure(notice, channel, "@no-answer", 1, IN_DOUBT_NO_ANSWER, True, False)

    async def in_doubt(self, notice: NoticeRequested, channel: str, final: bool) -> None:
        """Publish notice.failed for a delivery in doubt: a send of it began and was cut
        off (its replica died or froze), on a channel that would deliver a repeat. Not
        final: it is sent once more (the person may get it twice). Final: that resend was
        cut off too, and it is given up. One event id each."""
        if final:
            await self._failure(notice, channel, "@doubt-final", 2, IN_DOUBT_GIVEN_UP, False, True)
        else:
            await self._failure(notice, channel, "@doubt", 1, IN_DOUBT_RESENT, True, False)

    async def _failure(
        self,
        notice: NoticeRequested,
        channel: str,
        suffix: str,
        attempts: int,
        reason: str,
        retryable: bool,
        final: bool,
        after_acceptance: bool = False,
    ) -> None:
        """Publish one notice.failed; its event id is the delivery key and `suffix`."""
        now = self.clock.now()
        data = NoticeFailed(
            notice_id=notice.notice_id,
            occurrence=notice.occurrence,
            person_id=notice.recipient.person_id,
            channel=channel,
            attempts=attempts,
            failed_at=now,
            reason=reason,
            retryable=retryable,
            final=final,
            after_acceptance=after_acceptance,
        )
        await self._receipt("notice.failed", data.delivery_key() + suffix, data, now)

    async def deferred(self, notice: NoticeRequested, until: datetime) -> None:
        """Hold the notice in Redis until quiet hours end."""
        await self.deferred_store.hold(notice, until)

    async def dead_letter(self, notice: NoticeRequested, reason: str) -> None:
        """Publish the notice to the notices dead-letter topic with the (masked) reason."""
        event = make_event(
            "notice.requested", NOTIFIER_SOURCE, notice.notice_id, notice, time=self.clock.now()
        )
        await self.dead_letters.publish(
            event.to_json(),
            key=notice.notice_id.encode(),
            headers={DLQ_HEADER_REASON: redact(reason, limit=1000)},
        )

    async def _receipt(
        self, type_: str, event_id: str, data: NoticeDelivered | NoticeFailed, now: datetime
    ) -> None:
        event = make_event(type_, NOTIFIER_SOURCE, data.notice_id, data, time=now, id=event_id)
        await self.receipts.publish(
            event.to_json(),
            key=data.notice_id.encode(),
            headers=JSON_HEADERS,
            correlation_id=event_id,  # the event's id: no random one to make per receipt
        )


def _line(value: str | None) -> str | None:
    """A provider's own text made safe for the contract's one-line fields."""
    return None if value is None else escape_controls(value)[:256]
