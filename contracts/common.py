"""Shared field types and the base class of every event data model (contract v1)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
)

# Character classes shared by the JSON Schema patterns (ECMA-262) and pydantic (Rust regex):
# plain ranges and \xHH / \uHHHH escapes only, no lookaround.
#: Never allowed in single-line strings: C0 controls (tab and line breaks too), DEL, C1
#: controls, and the Unicode line and paragraph separators.
SINGLE_LINE_FORBIDDEN = r"\x00-\x1F\x7F-\x9F\u2028\u2029"
#: Never allowed in free text: C0 controls except tab, line feed and carriage return; DEL; C1.
FREE_TEXT_FORBIDDEN = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F"

_S = SINGLE_LINE_FORBIDDEN
_F = FREE_TEXT_FORBIDDEN
#: An identifier: non-empty, no leading/trailing whitespace, no line breaks or control characters.
ID_PATTERN = rf"^[^\s{_S}](?:[^{_S}]*[^\s{_S}])?$"
#: Single-line text that must not be blank (titles, names: they go into subjects and SMS).
TEXT_PATTERN = rf"^[^\S{_S}]*[^\s{_S}][^{_S}]*$"
#: Single-line text that may be empty (addresses, provider message ids).
LINE_PATTERN = rf"^[^{_S}]*$"
#: Free text: tab and line breaks allowed, other control characters not.
FREE_TEXT_PATTERN = rf"^[^{_F}]*$"
#: Free text that must not be blank (reasons).
REASON_PATTERN = rf"^[^{_F}]*[^\s{_F}][^{_F}]*$"
#: Patterns of fields that may hold tab and line breaks (every other text pattern refuses them).
MULTI_LINE_PATTERNS = frozenset({FREE_TEXT_PATTERN, REASON_PATTERN})
#: The envelope `source`: a URI-reference, so no whitespace or control characters.
SOURCE_PATTERN = rf"^[^\s{_S}]+$"
#: Mobile number: digits, optionally a leading '+', spaces or hyphens (e.g. +86 138-0000-0000).
MOBILE_PATTERN = r"^\+?[0-9][0-9 -]{4,23}$"
#: Minimal e-mail shape check: something@something, no whitespace or control characters.
EMAIL_PATTERN = rf"^[^@\s{_S}]+@[^@\s{_S}]+$"
#: RFC 3339 date-time; the offset (`Z` or `±hh:mm`) is required.
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
#: A calendar date `YYYY-MM-DD`.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

_NO_CONTROLS = "不得含控制字符 (control characters are not allowed)"
#: Friendlier wording for pattern errors, keyed by pattern (used in InvalidEvent reasons);
#: `pattern_message` names the offending character instead when given the input.
PATTERN_MESSAGES: dict[str, str] = {
    ID_PATTERN: (
        "Input should be a non-empty id without leading/trailing whitespace, line breaks or "
        "control characters"
    ),
    TEXT_PATTERN: "Input should not be blank (nor hold line breaks or control characters)",
    REASON_PATTERN: "Input should not be blank (nor hold control characters)",
    LINE_PATTERN: "不得含换行符或控制字符 (line breaks and control characters are not allowed)",
    FREE_TEXT_PATTERN: _NO_CONTROLS,
    SOURCE_PATTERN: (
        "String should match pattern of a URI-reference, without whitespace or control characters"
    ),
    MOBILE_PATTERN: (
        "须为手机号码（数字、空格、连字符，可带前导 +），不得含其他字符或控制字符 "
        "(Input should be a mobile number: digits, spaces or hyphens, optionally a leading +)"
    ),
    EMAIL_PATTERN: (
        "须为电子邮件地址，不得含空白或控制字符 "
        "(Input should be an e-mail address without whitespace or control characters)"
    ),
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

_SINGLE_LINE = re.compile(f"[{SINGLE_LINE_FORBIDDEN}]")
_FREE_TEXT = re.compile(f"[{FREE_TEXT_FORBIDDEN}]")
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def forbidden_character(text: str, *, multi_line: bool = False) -> str | None:
    """Return the first character `text` may not contain, else None.

    Single-line text refuses every C0 control (tab and line breaks too), DEL, C1 controls and
    U+2028/U+2029; multi-line text allows tab, line feed and carriage return.
    """
    if text.isprintable():  # the common case, about twice as fast as the search
        return None
    match = (_FREE_TEXT if multi_line else _SINGLE_LINE).search(text)
    return None if match is None else match.group()


def describe_character(char: str) -> str:
    """Bilingual reason for a forbidden character, naming it by code point (never the text)."""
    code = f"U+{ord(char):04X}"
    if char in _LINE_BREAKS:
        return f"含有换行符 {code}，此处不允许 (line break {code} is not allowed here)"
    return f"含有控制字符 {code}，不允许 (control character {code} is not allowed)"


def escape_controls(text: str) -> str:
    """`text` with each control character or line break written as an escape (`\\x00`), so
    that an id or key quoted in a reason, log line or header stays on one printable line."""
    if text.isprintable():
        return text
    return _SINGLE_LINE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def pattern_message(pattern: str, value: object = None) -> str | None:
    """Wording for a pattern mismatch: the forbidden character in `value` by code point, else
    PATTERN_MESSAGES[pattern], else None. `value` is only searched, never quoted.

    The patterns refuse control characters in Rust at no cost; only a failure pays for this.
    """
    if isinstance(value, str):
        char = forbidden_character(value, multi_line=pattern in MULTI_LINE_PATTERNS)
        if char is not None:
            return describe_character(char)
    return PATTERN_MESSAGES.get(pattern)


class _RefusesControls:
    """Annotated marker: this text type's pattern or validator refuses control characters."""

    def __repr__(self) -> str:
        return "REFUSES_CONTROLS"


#: Put in the Annotated metadata of every text type of a DataModel (checked at class creation).
REFUSES_CONTROLS = _RefusesControls()

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN),
    REFUSES_CONTROLS,
]
"""Identifier of a hazard, unit, person, department, notice or channel."""

Text = Annotated[str, StringConstraints(min_length=1, pattern=TEXT_PATTERN), REFUSES_CONTROLS]
"""Single-line text that must not be blank: titles and names (they go into subjects and SMS)."""

Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN), REFUSES_CONTROLS]
"""Single-line text that may be empty: addresses, provider message ids."""

FreeText = Annotated[str, StringConstraints(pattern=FREE_TEXT_PATTERN), REFUSES_CONTROLS]
"""Free text (descriptions, notes): tab and line breaks allowed, other control characters not."""

Reason = Annotated[str, StringConstraints(min_length=1, pattern=REASON_PATTERN), REFUSES_CONTROLS]
"""Free text that must not be blank (why a hazard was reopened or cancelled)."""

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


def _unchecked_text(annotation: Any, metadata: Sequence[Any] = ()) -> bool:
    """Whether a str (or Any) inside `annotation` escapes the control-character checks."""
    if any(item is REFUSES_CONTROLS for item in metadata):
        return False
    if get_origin(annotation) is Annotated:
        inner, *inner_metadata = get_args(annotation)
        return _unchecked_text(inner, inner_metadata)
    if annotation is str or annotation is Any:
        return True
    return any(_unchecked_text(arg) for arg in get_args(annotation) if arg is not Ellipsis)


class DataModel(BaseModel):
    """Base of every event data model: unknown fields are rejected, instances are immutable.

    Every text field must use a type marked REFUSES_CONTROLS (Id, Text, Line, FreeText,
    Reason, Facts, ...), so no field accepts control characters: a subclass with a plain `str`
    field fails at import. Validation errors never quote the input (mobiles, e-mails).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: CloudEvents `type` this model is the `data` of.
    EVENT_TYPE: ClassVar[str] = ""
    #: Name of the data field the envelope `subject` must equal.
    SUBJECT_FIELD: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            if _unchecked_text(field.annotation, field.metadata):
                raise TypeError(
                    f"{cls.__name__}.{name}: text fields must use Id, Text, Line, FreeText, "
                    "Reason, Facts or another type marked REFUSES_CONTROLS (plain str would "
                    "accept control characters)"
                )

    def subject_value(self) -> str:
        """Return the value the envelope `subject` must have for this data."""
        value = getattr(self, self.SUBJECT_FIELD)
        return str(value)
