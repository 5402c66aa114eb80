"""duban event contract v1: CloudEvents envelope, typed data models, parsing and topics.

Pure: no I/O. Typical use::

    from contracts import parse_event, make_event, InvalidEvent
    event = parse_event(message_bytes)          # raises InvalidEvent(reason)
    out = make_event("notice.requested", source, subject, data, time=now)
    producer.send(topic, key=out.key, value=out.to_json())
"""

from contracts.common import DataModel, Deadline, Id, Text, Timestamp
from contracts.duty import DutyFulfilled
from contracts.envelope import CloudEvent
from contracts.hazard import (
    HazardCancelled,
    HazardClosed,
    HazardProgress,
    HazardRectified,
    HazardReopened,
    HazardReported,
    HazardSupervisionListed,
    HazardUnit,
    HazardUpdated,
)
from contracts.notice import (
    HAZARD_FACT_KEYS,
    ChannelPlan,
    NoticeAcknowledged,
    NoticeDelivered,
    NoticeFailed,
    NoticeReached,
    NoticeRequested,
    Recipient,
    delivery_key,
)
from contracts.person import PersonUpserted
from contracts.registry import (
    ENVELOPE_MODELS,
    EVENT_TYPES,
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    Event,
    InvalidEvent,
    make_event,
    parse_event,
)
from contracts.topics import DEFAULT_TOPICS, Topics
from contracts.unit import Contacts, Person, UnitUpserted

__all__ = [
    "DEFAULT_TOPICS",
    "ENVELOPE_MODELS",
    "EVENT_TYPES",
    "HAZARD_FACT_KEYS",
    "INBOUND_TYPES",
    "OUTBOUND_TYPES",
    "ChannelPlan",
    "CloudEvent",
    "Contacts",
    "DataModel",
    "Deadline",
    "DutyFulfilled",
    "Event",
    "HazardCancelled",
    "HazardClosed",
    "HazardProgress",
    "HazardRectified",
    "HazardReopened",
    "HazardReported",
    "HazardSupervisionListed",
    "HazardUnit",
    "HazardUpdated",
    "Id",
    "InvalidEvent",
    "NoticeAcknowledged",
    "NoticeDelivered",
    "NoticeFailed",
    "NoticeReached",
    "NoticeRequested",
    "Person",
    "PersonUpserted",
    "Recipient",
    "Text",
    "Timestamp",
    "Topics",
    "UnitUpserted",
    "delivery_key",
    "make_event",
    "parse_event",
]
