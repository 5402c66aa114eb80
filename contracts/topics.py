"""Default Kafka topic names of contract v1 and which event type goes to which topic."""

from __future__ import annotations

from dataclasses import dataclass

HAZARD_EVENTS = "hazard.events"
"""Inbound: every event whose subject is a hazard (`hazard.*`)."""
TASK_EVENTS = "task.events"
"""Inbound: every event whose subject is a supervised task (`task.*`)."""
DUTY_EVENTS = "duty.events"
"""Inbound: `unit.upserted`, `person.upserted` and `duty.fulfilled`."""
NOTICE_ACKS = "notice.acks"
"""Inbound: `notice.acknowledged`."""
NOTICE_REQUESTED = "notice.requested"
"""Outbound: `notice.requested`."""
NOTICE_RECEIPTS = "notice.receipts"
"""Outbound: `notice.delivered`, `notice.reached` and `notice.failed` (receipts)."""
DLQ_EVENTS = "duban.dlq.events"
"""Dead letters: inbound messages that failed validation (original bytes, reason in headers)."""
DLQ_NOTICES = "duban.dlq.notices"
"""Dead letters: `notice.requested` events whose delivery finally failed on every channel."""

#: Kafka header names set on dead-letter messages (value: UTF-8 text).
DLQ_HEADER_REASON = "duban-reason"
DLQ_HEADER_TOPIC = "duban-original-topic"
DLQ_HEADER_PARTITION = "duban-original-partition"
DLQ_HEADER_OFFSET = "duban-original-offset"
#: Set on a dead letter whose original was too large to keep whole: the value is then the
#: original's first bytes, and these headers describe the original.
DLQ_HEADER_TRUNCATED = "duban-truncated"
DLQ_HEADER_SIZE = "duban-original-size"
DLQ_HEADER_SHA256 = "duban-original-sha256"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names in use (defaults as above; ops may rename them in configuration)."""

    hazard_events: str = HAZARD_EVENTS
    duty_events: str = DUTY_EVENTS
    notice_acks: str = NOTICE_ACKS
    notice_requested: str = NOTICE_REQUESTED
    notice_receipts: str = NOTICE_RECEIPTS
    dlq_events: str = DLQ_EVENTS
    dlq_notices: str = DLQ_NOTICES
    task_events: str = TASK_EVENTS

    def for_type(self, event_type: str) -> str:
        """Return the topic an event of `event_type` is published on; KeyError if unknown."""
        if event_type.startswith("hazard."):
            return self.hazard_events
        if event_type.startswith("task."):
            return self.task_events
        by_type = {
            "unit.upserted": self.duty_events,
            "person.upserted": self.duty_events,
            "duty.fulfilled": self.duty_events,
            "notice.acknowledged": self.notice_acks,
            "notice.requested": self.notice_requested,
            "notice.delivered": self.notice_receipts,
            "notice.reached": self.notice_receipts,
            "notice.failed": self.notice_receipts,
        }
        return by_type[event_type]

    def inbound(self) -> tuple[str, ...]:
        """The topics duban consumes."""
        return (self.hazard_events, self.task_events, self.duty_events, self.notice_acks)


DEFAULT_TOPICS = Topics()
