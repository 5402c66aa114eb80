"""A planned notice as the notice.requested CloudEvent the engine publishes: the bytes are
fixed by the notice (its event id is one per notice occurrence and recipient), so the
engine can keep them in its outbox when it commits and publish the same bytes later."""

from __future__ import annotations

import json
from dataclasses import dataclass

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from contracts.registry import make_event
from services.core.evaluate import PlannedNotice

ENGINE_SOURCE = "urn:duban:engine"


@dataclass(frozen=True)
class Boxed:
    """A notice.requested event kept in the outbox by the commit that decided it: the
    engine publishes it after the commit and then clears it; if the engine died in
    between, the outbox sweep publishes the same bytes (services.engine.outbox)."""

    event_id: str
    key: str  # the Kafka record key: the notice id
    payload: bytes


def notice_event(notice: PlannedNotice) -> bytes:
    """The notice.requested CloudEvent for one planned notice (id stable across re-sends)."""
    person = notice.recipient.person
    data = NoticeRequested(
        notice_id=notice.notice_id,
        occurrence=notice.occurrence,
        kind=notice.kind,
        action=notice.action,
        subject=notice.subject,
        due_at=notice.due_at,
        recipient=Recipient(
            person_id=person.id,
            name=person.name,
            role=notice.recipient.role,
            mobile=person.mobile,
            email=person.email,
            wecom_userid=person.wecom_userid,
            dingtalk_userid=person.dingtalk_userid,
            feishu_open_id=person.feishu_open_id,
        ),
        channels=[ChannelPlan(channel=c.channel, not_before=c.not_before) for c in notice.channels],
        facts=notice.facts,
    )
    event = make_event(
        "notice.requested",
        ENGINE_SOURCE,
        notice.notice_id,
        data,
        time=notice.at,
        id=notice_event_id(notice),
    )
    return event.to_json()


def notice_event_id(notice: PlannedNotice) -> str:
    """The notice.requested event's id: one per notice occurrence and recipient."""
    return f"{notice.notice_id}#{notice.occurrence}@{notice.recipient.person.id}"


def box(notice: PlannedNotice) -> Boxed:
    """The notice's event as published, and as kept in the outbox."""
    return Boxed(notice_event_id(notice), notice.notice_id, notice_event(notice))


def unboxed(event_id: str, payload: bytes) -> Boxed:
    """An outbox event read back: its record key is the notice id, the event's subject."""
    subject = json.loads(payload).get("subject")
    return Boxed(event_id, subject if isinstance(subject, str) else event_id, payload)
