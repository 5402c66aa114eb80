"""People known from `person.upserted`, and how one person's addresses are put together.

A person id may be known to up to three sources. Each address (and the name) is taken
from the most specific source that has it, field by field:

1. `person.upserted` (the people registry: the authority on a person's own addresses),
2. the unit's contacts in `unit.upserted` (the enterprise registry),
3. directory.yaml (ops' own list; the only source of a person's channel order).

So a person.upserted carrying only a mobile still lets the e-mail from directory.yaml
reach them, and a directory entry's `channels` order survives any upsert.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.core.directory import Person

#: The fields of a Person taken field by field from the sources, most specific first.
_FIELDS = tuple(Person.model_fields)


class PersonRecord(BaseModel):
    """What duban keeps of a person.upserted: the record and the event time that set it."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    person_id: str
    name: str
    mobile: str | None = None
    email: str | None = None
    wecom_userid: str | None = None
    dingtalk_userid: str | None = None
    feishu_open_id: str | None = None
    unit_id: str | None = None
    department_id: str | None = None
    title: str | None = None
    as_of: datetime

    # Built once: records are parsed once per stored JSON (services.store.people) and then
    # handed to the core for every batch and timer that names the person.
    @cached_property
    def contact(self) -> Person:
        """The record as a notifiable person."""
        return Person.model_construct(
            id=self.person_id,
            name=self.name,
            mobile=self.mobile,
            email=self.email,
            wecom_userid=self.wecom_userid,
            dingtalk_userid=self.dingtalk_userid,
            feishu_open_id=self.feishu_open_id,
            channels=None,
        )

    def supersedes(self, stored: PersonRecord | None) -> bool:
        """Whether this record may replace `stored`: a stale upsert never overwrites a newer
        one (equal times: the later arrival wins, as a duplicate changes nothing)."""
        return stored is None or self.as_of >= stored.as_of


def merged(sources: Iterable[Person | None]) -> Person | None:
    """One person from `sources` (most specific first): each field from the first source
    that has it. None when no source knows the person."""
    known = [p for p in sources if p is not None]
    if len(known) <= 1:
        return known[0] if known else None
    fields: dict[str, Any] = {
        name: next((value for p in known if (value := getattr(p, name)) is not None), None)
        for name in _FIELDS
    }
    return Person.model_construct(**fields)
