"""What a validated inbound event means to the engine: which entity, and what to apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.registry import Event, InvalidEvent
from services.core.advance import Ack, subject_of_notice
from services.core.directory import Person
from services.core.people import PersonRecord
from services.core.reducer import Fact
from services.core.state import UnitInfo


@dataclass(frozen=True)
class Routed:
    """An event bound to the entity it changes ("hazard:<id>", "task:<id>", "unit:<id>",
    "person:<id>", "duty:<id>")."""

    entity: str
    fact: Fact | None = None
    ack: Ack | None = None
    unit: UnitInfo | None = None
    person: PersonRecord | None = None
    duty: Fact | None = None
    origin: object = None  # the consumed record, for dead-lettering what the core rejects


def event_key(event: Event) -> str:
    """The idempotency key of an event: its source and id."""
    return f"{event.source}#{event.id}"


def route(event: Event) -> Routed:
    """Bind an event to its entity; raise InvalidEvent for an ack of no known notice kind."""
    data: Any = event.data
    if event.type.startswith(("hazard.", "task.")):
        fact = Fact(event.type, event.time, event_key(event), data.model_dump(mode="json"))
        return Routed(f"{event.type.partition('.')[0]}:{event.subject}", fact=fact)
    if event.type == "unit.upserted":
        return Routed(f"unit:{event.subject}", unit=unit_info(data, event))
    if event.type == "person.upserted":
        record = PersonRecord(**data.model_dump(), as_of=event.time)
        return Routed(f"person:{event.subject}", person=record)
    if event.type == "notice.acknowledged":
        ack = Ack(data.notice_id, data.person_id)
        about = subject_of_notice(data.notice_id)
        if about is not None:
            return Routed(f"{about[0]}:{about[1]}", ack=ack)
        if data.notice_id.split(":", 1)[0] in {"duty", "digest"}:
            return Routed(f"notice:{data.notice_id}", ack=ack)  # they never repeat: noted only
        raise InvalidEvent(f"data.notice_id: '{data.notice_id}' is not a duban notice id")
    if event.type == "duty.fulfilled":
        fact = Fact(event.type, event.time, event_key(event), data.model_dump(mode="json"))
        return Routed(f"duty:{event.subject}", duty=fact)
    raise InvalidEvent(f"type: '{event.type}' is not an inbound event duban consumes")


def unit_info(data: Any, event: Event) -> UnitInfo:
    """UnitInfo from unit.upserted data."""
    contacts = data.contacts

    def person(value: Any) -> Person | None:
        return Person.model_validate(value.model_dump()) if value is not None else None

    return UnitInfo(
        unit_id=data.unit_id,
        name=data.name,
        industry=data.industry,
        region=data.region,
        high_risk=data.high_risk,
        principal=person(contacts.principal) if contacts else None,
        controller=person(contacts.controller) if contacts else None,
        safety_officer=person(contacts.safety_officer) if contacts else None,
        five_package=tuple(
            p for p in (person(x) for x in (contacts.five_package if contacts else ())) if p
        ),
        as_of=event.time,
    )
