"""Kafka side of delivery outcomes: receipts, deferrals and the notices dead-letter topic.

Receipts of concurrent deliveries are published together (services.groupcommit) as
Kafka record batches (services.batchproducer), awaited as a whole, so each receipt still
returns only after the broker confirmed it.
"""

from __future__ import annotations

from datetime import datetime

from faststream.kafka import KafkaBroker

from contracts.common import escape_controls
from contracts.notice import NoticeDelivered, NoticeFailed, NoticeRequested
from contracts.registry import make_event
from contracts.topics import DLQ_HEADER_REASON, Topics
from services.batchproducer import BatchProducer
from services.clock import Clock
from services.groupcommit import GroupCommit
from services.masking import redact
from services.notifier.channels import DeliveryError
from services.notifier.deferred import DeferredStore
from services.notifier.ledger import Sent

NOTIFIER_SOURCE = "urn:duban:notifier"
MAX_BATCH = 500
RECEIPT_LINGER_S = 0.002  # receipts come spread out: a 2 ms wait gathers many per batch
_Receipt = tuple[str, str, NoticeDelivered | NoticeFailed, datetime]
_RECEIPT_HEADERS = [("content-type", b"application/json")]


class KafkaOutcomes:
    """Publishes a receipt for every outcome, awaiting the broker's confirmation."""

    def __init__(
        self,
        broker: KafkaBroker,
        receipts: BatchProducer,
        topics: Topics,
        deferred: DeferredStore,
        clock: Clock,
    ) -> None:
        self.broker = broker
        self.receipts = receipts
        self.topics = topics
        self.deferred_store = deferred
        self.clock = clock
        self._receipts = GroupCommit(self._publish_all, MAX_BATCH, linger_s=RECEIPT_LINGER_S)

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
        now = self.clock.now()
        data = NoticeFailed(
            notice_id=notice.notice_id,
            occurrence=notice.occurrence,
            person_id=notice.recipient.person_id,
            channel=channel,
            attempts=attempts,
            failed_at=now,
            reason=redact(str(error), limit=500),
            retryable=error.retryable,
            final=final,
        )
        await self._receipt("notice.failed", f"{data.delivery_key()}@{attempts}", data, now)

    async def deferred(self, notice: NoticeRequested, until: datetime) -> None:
        """Hold the notice in Redis until quiet hours end."""
        await self.deferred_store.hold(notice, until)

    async def dead_letter(self, notice: NoticeRequested, reason: str) -> None:
        """Publish the notice to the notices dead-letter topic with the (masked) reason."""
        event = make_event(
            "notice.requested", NOTIFIER_SOURCE, notice.notice_id, notice, time=self.clock.now()
        )
        await self.broker.publish(
            event.to_json(),
            self.topics.dlq_notices,
            key=notice.notice_id.encode(),
            headers={DLQ_HEADER_REASON: redact(reason, limit=1000)},
        )

    async def _receipt(
        self, type_: str, event_id: str, data: NoticeDelivered | NoticeFailed, now: datetime
    ) -> None:
        await self._receipts.submit((type_, event_id, data, now))

    async def _publish_all(self, receipts: list[_Receipt]) -> list[None]:
        records = [
            (
                data.notice_id.encode(),
                make_event(
                    type_, NOTIFIER_SOURCE, data.notice_id, data, time=now, id=event_id
                ).to_json(),
            )
            for type_, event_id, data, now in receipts
        ]
        await self.receipts.publish(self.topics.notice_receipts, records, _RECEIPT_HEADERS)
        return [None] * len(receipts)


def _line(value: str | None) -> str | None:
    """A provider's own text made safe for the contract's one-line fields."""
    return None if value is None else escape_controls(value)[:256]
