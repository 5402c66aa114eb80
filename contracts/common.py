"""Shared field types and the base class of every event data model (contract v1)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
)

#: An identifier: non-empty, no leading/trailing whitespace, no line breaks, at most 256 chars.
ID_PATTERN = r"^\S(?:.*\S)?$"
#: Free text that must not be blank.
TEXT_PATTERN = r"\S"
#: RFC 3339 date-time; the offset (`Z` or `±hh:mm`) is required.
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
#: A calendar date `YYYY-MM-DD`.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

#: Friendlier wording for pattern errors, keyed by pattern (used in InvalidEvent reasons).
PATTERN_MESSAGES: dict[str, str] = {
    ID_PATTERN: "Input should be a non-empty id without leading/trailing whitespace or line breaks",
    TEXT_PATTERN: "Input should not be blank",
}

_RFC3339 = re.compile(RFC3339_PATTERN)
_DATE = re.compile(DATE_PATTERN)

_TIMESTAMP_HINT = "an RFC 3339 date-time with offset, e.g. 2026-05-01T10:00:00+08:00"


def parse_timestamp(value: Any) -> datetime:
    """Return an aware datetime from an RFC 3339 string or an aware datetime; else ValueError."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"Input should have a UTC offset ({_TIMESTAMP_HINT})")
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(f"Input should be {_TIMESTAMP_HINT}")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise ValueError(f"Input should be {_TIMESTAMP_HINT} ({exc})") from None


def parse_deadline(value: Any) -> datetime | date:
    """Return a date for `YYYY-MM-DD`, else an aware datetime (see `parse_timestamp`)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"Input should be a valid date YYYY-MM-DD ({exc})") from None
    if isinstance(value, str | datetime):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    raise ValueError(f"Input should be {_TIMESTAMP_HINT}, or a date YYYY-MM-DD")


_TIMESTAMP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": RFC3339_PATTERN,
}

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
"""Identifier of a hazard, unit, person, department, notice or channel."""

Text = Annotated[str, StringConstraints(min_length=1, pattern=TEXT_PATTERN)]
"""Human-readable text that must not be blank."""

Timestamp = Annotated[
    AwareDatetime, BeforeValidator(parse_timestamp), WithJsonSchema(_TIMESTAMP_SCHEMA)
]
"""RFC 3339 date-time with a required offset; naive date-times are rejected."""

Deadline = Annotated[
    AwareDatetime | date,
    BeforeValidator(parse_deadline),
    WithJsonSchema(
        {
            "anyOf": [
                _TIMESTAMP_SCHEMA,
                {"type": "string", "format": "date", "pattern": DATE_PATTERN},
            ]
        }
    ),
]
"""Rectification deadline: an aware datetime (that instant), or a `date` meaning the END of that
day (24:00) in duban's configured time zone. Naive date-times are rejected."""

Level = Literal["major", "general"]
"""Hazard level: `major` 重大事故隐患, `general` 一般隐患."""

FoundBy = Literal["self_check", "inspection", "public_report", "other"]
"""How a hazard was found: 自查, 督导检查, 群众举报, other."""

Authority = Literal["town", "county", "city", "province"]
"""Level of the authority that lists a hazard for supervision (挂牌督办)."""


class DataModel(BaseModel):
    """Base of every event data model: unknown fields are rejected, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: CloudEvents `type` this model is the `data` of.
    EVENT_TYPE: ClassVar[str] = ""
    #: Name of the data field the envelope `subject` must equal.
    SUBJECT_FIELD: ClassVar[str] = ""

    def subject_value(self) -> str:
        """Return the value the envelope `subject` must have for this data."""
        value = getattr(self, self.SUBJECT_FIELD)
        return str(value)
