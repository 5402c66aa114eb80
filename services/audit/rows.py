"""What the audit trail keeps of one consumed record: an `Entry`, pure.

Every record class is kept as it was received (the CloudEvent, or a dead letter with its
reason), except contact details: a notice's recipient and a unit's contacts are replaced
by a reference to a *person version* (the digest of the person's details), kept once in
its own table however many rows refer to it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from contracts.registry import INBOUND_TYPES, InputLimits, InvalidEvent, parse_event
from contracts.topics import DLQ_HEADER_REASON, DLQ_HEADER_TRUNCATED, Topics
from services.core.advance import hazard_of_notice
from services.guard import Record

RECORD_CLASSES: Final = ("inbound", "dead_letter", "notice", "receipt", "acknowledgement")
DEAD_LETTER_SOURCE: Final = "urn:duban:audit:dead-letter"
#: The contact fields a person version holds (a notice's Recipient, a unit's Person).
CONTACT_FIELDS: Final = (
    "name",
    "mobile",
    "email",
    "wecom_userid",
    "dingtalk_userid",
    "feishu_open_id",
)
_UNIT_PEOPLE: Final = ("principal", "controller", "safety_officer")
_ENVELOPE: Final = ("id", "source", "type", "subject", "time")
MAX_SUBJECT: Final = 200  # a dead letter's subject as kept (keys can be anything)


@dataclass(frozen=True)
class AuditRecord(Record):
    """A consumed record with what the audit also reads: its headers."""

    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonVersion:
    """A person's contact details as one notice or registry record carried them."""

    digest: str  # sha256 (hex) of the canonical details: the rows' reference
    person_id: str
    details: dict[str, str | None]


@dataclass(frozen=True)
class Entry:
    """One row to append, before it is sealed into its subject's chain."""

    event_id: str
    source: str
    subject: str  # the chain's key: the event's subject (its Kafka key)
    root: str | None  # the hazard, unit or department the story belongs to
    record_class: str
    type: str
    occurred_at: datetime
    origin: str  # topic[partition]@offset it was read from
    body: str  # canonical JSON
    people: tuple[PersonVersion, ...] = ()


class Unreadable(ValueError):
    """A record on one of duban's own topics that is no event at all."""


def canonical(value: Any) -> str:
    """The one JSON text of a value that hashes and compares: sorted keys, no spaces."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def canonical_bytes(value: Any) -> bytes:
    """`canonical(value)` UTF-8 encoded (what is hashed), without the round trip."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def person_version(person_id: str, details: Mapping[str, Any]) -> PersonVersion:
    """The version of a person these details make (the same details, the same digest).
    The same people recur in notice after notice: recent versions are remembered (the
    one returned may be shared, and is never changed)."""
    values = tuple(map(details.get, CONTACT_FIELDS))
    try:
        return _version(person_id, values)
    except TypeError:  # a list or object where text belongs (an own topic's garbage)
        return _version.__wrapped__(person_id, values)


@functools.lru_cache(maxsize=4096)
def _version(person_id: str, values: tuple[Any, ...]) -> PersonVersion:
    kept = dict(zip(CONTACT_FIELDS, values, strict=True))
    digest = hashlib.sha256(canonical({"person_id": person_id, **kept}).encode()).hexdigest()
    return PersonVersion(digest, person_id, kept)


def entry_of(record: AuditRecord, topics: Topics, limits: InputLimits) -> Entry | None:
    """The entry a record makes; None for an inbound record the engine refuses (it is
    kept from the dead-letter topic instead). Raises Unreadable for garbage on duban's
    own topics."""
    if record.topic in (topics.dlq_events, topics.dlq_notices):
        return _dead_letter(record)
    if record.topic in topics.inbound():
        try:  # what the engine accepts, parsed as the engine parses it
            parse_event(record.value, INBOUND_TYPES, limits)
        except InvalidEvent:
            return None
        event = orjson.loads(record.value)
        occurred_at = datetime.fromisoformat(event["time"])
    else:  # duban's own events, built by make_event: kept as they came, any type
        event, occurred_at = _envelope(record)
    people = _strip_contacts(event)
    kind = record_class(record.topic, event["type"], topics)
    return Entry(
        event_id=event["id"],
        source=event["source"],
        subject=event["subject"],
        root=root_of(event),
        record_class=kind,
        type=event["type"],
        occurred_at=occurred_at,
        origin=record.position,
        body=canonical(event),
        people=people,
    )


def record_class(topic: str, event_type: str, topics: Topics) -> str:
    """Which retention class a record belongs to."""
    if event_type == "notice.acknowledged":
        return "acknowledgement"
    if topic == topics.notice_requested:
        return "notice"
    if topic == topics.notice_receipts:
        return "receipt"
    return "inbound"


def root_of(event: Mapping[str, Any]) -> str | None:
    """The hazard, unit or department an event's story belongs to."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    if event.get("type") == "notice.requested" and isinstance(data.get("subject"), str):
        return str(data["subject"])
    subject = str(event.get("subject", ""))
    if event.get("type", "").startswith("notice."):
        return root_of_notice(subject)
    return subject or None


def root_of_notice(notice_id: str) -> str | None:
    """The hazard or duty subject a notice id names; None for digests."""
    hazard = hazard_of_notice(notice_id)
    if hazard is not None:
        return hazard
    scope, _, rest = notice_id.partition(":")
    if scope == "duty" and rest:
        return rest.rsplit(":", 3)[0] or None
    return None


def _envelope(record: AuditRecord) -> tuple[dict[str, Any], datetime]:
    """The CloudEvent of a record on duban's own topics and its time; Unreadable if it
    is none."""
    try:
        event = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        raise Unreadable(f"{record.position}: not JSON") from None
    if not isinstance(event, dict):
        raise Unreadable(f"{record.position}: not a JSON object")
    if not all(map(_text, map(event.get, _ENVELOPE))):
        missing = [k for k in _ENVELOPE if not _text(event.get(k))]
        raise Unreadable(f"{record.position}: not an event (no {', '.join(missing)})")
    try:
        return event, datetime.fromisoformat(event["time"])
    except ValueError:
        raise Unreadable(f"{record.position}: not an event (time {event['time']!r})") from None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "\x00" not in value


def _strip_contacts(event: dict[str, Any]) -> tuple[PersonVersion, ...]:
    """Replace contact details in the event (in place) by person-version references."""
    data = event.get("data")
    if not isinstance(data, dict):
        return ()
    found: list[PersonVersion] = []

    def stripped(person: Any, id_field: str) -> Any:
        if not isinstance(person, dict) or not isinstance(person.get(id_field), str):
            return person
        version = person_version(person[id_field], person)
        found.append(version)
        rest = {k: v for k, v in person.items() if k not in CONTACT_FIELDS}
        return {**rest, "person_version": version.digest}

    if event.get("type") == "notice.requested":
        data["recipient"] = stripped(data.get("recipient"), "person_id")
    if event.get("type") == "person.upserted":
        event["data"] = stripped(data, "person_id")
    contacts = data.get("contacts") if event.get("type") == "unit.upserted" else None
    if isinstance(contacts, dict):
        for role in _UNIT_PEOPLE:
            if role in contacts:
                contacts[role] = stripped(contacts[role], "id")
        if isinstance(contacts.get("five_package"), list):
            contacts["five_package"] = [stripped(p, "id") for p in contacts["five_package"]]
    return tuple(found)


def _dead_letter(record: AuditRecord) -> Entry:
    """A dead letter: the original (parsed where it is JSON), the reason and origin."""
    try:
        original: Any = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        original = record.value.decode("utf-8", errors="replace")
    people = _strip_contacts(original) if isinstance(original, dict) else ()
    subject = original.get("subject") if isinstance(original, dict) else None
    if not isinstance(subject, str) or not subject:
        subject = (record.key or b"").decode("utf-8", errors="replace") or "dead-letter"
    subject = subject.replace("\x00", "\ufffd")[:MAX_SUBJECT]
    body = {
        "reason": record.headers.get(DLQ_HEADER_REASON, ""),
        "headers": dict(record.headers),
        "truncated": record.headers.get(DLQ_HEADER_TRUNCATED) == "true",
        "sha256": hashlib.sha256(record.value).hexdigest(),
        "original": original,
    }
    event_type = original.get("type") if isinstance(original, dict) else None
    root = root_of(original) if isinstance(original, dict) else None
    return Entry(
        event_id=record.position,
        source=DEAD_LETTER_SOURCE,
        subject=subject,
        root=root or subject,
        record_class="dead_letter",
        type=f"dead_letter:{event_type}" if isinstance(event_type, str) else "dead_letter",
        occurred_at=datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
        origin=record.position,
        body=canonical(body),
        people=people,
    )
