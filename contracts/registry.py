"""Event type registry, parsing of inbound messages and building of outbound events (v1)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Union, cast, overload

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic_core import ErrorDetails
from typing_extensions import TypeVar

from contracts.common import DataModel, escape_controls, pattern_message
from contracts.duty import DutyFulfilled
from contracts.envelope import CORE_ATTRIBUTES, SPECVERSION, CloudEvent
from contracts.hazard import HAZARD_MODELS
from contracts.notice import (
    NoticeAcknowledged,
    NoticeDelivered,
    NoticeFailed,
    NoticeReached,
    NoticeRequested,
)
from contracts.person import PersonUpserted
from contracts.plausible import DEFAULT_PLAUSIBILITY, Plausibility, implausible
from contracts.task import TASK_MODELS
from contracts.unit import UnitUpserted

D = TypeVar("D", bound=DataModel, covariant=True, default=DataModel)
M = TypeVar("M", bound=DataModel)

#: Every event type of contract v1 (inbound and outbound) -> model of its `data`.
_DATA_MODELS: tuple[type[DataModel], ...] = (
    *HAZARD_MODELS,
    *TASK_MODELS,
    UnitUpserted,
    PersonUpserted,
    DutyFulfilled,
    NoticeAcknowledged,
    NoticeRequested,
    NoticeDelivered,
    NoticeReached,
    NoticeFailed,
)
EVENT_TYPES: dict[str, type[DataModel]] = {model.EVENT_TYPE: model for model in _DATA_MODELS}
#: Types duban publishes.
OUTBOUND_TYPES: frozenset[str] = frozenset(
    {
        NoticeRequested.EVENT_TYPE,
        NoticeDelivered.EVENT_TYPE,
        NoticeReached.EVENT_TYPE,
        NoticeFailed.EVENT_TYPE,
    }
)
#: Types duban consumes from publishers.
INBOUND_TYPES: frozenset[str] = frozenset(EVENT_TYPES) - OUTBOUND_TYPES

_MAX_ERRORS_IN_REASON = 3
#: Bounds checked before any JSON parser sees a message (settings may lower or raise them).
MAX_EVENT_BYTES = 1_000_000
MAX_JSON_DEPTH = 32
# JSON strings (escapes included) and the brackets that nest: what the depth check reads.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


@dataclass(frozen=True, slots=True)
class InputLimits:
    """How large and how deeply nested an inbound message may be."""

    max_bytes: int = MAX_EVENT_BYTES
    max_depth: int = MAX_JSON_DEPTH
    plausibility: Plausibility = DEFAULT_PLAUSIBILITY


DEFAULT_LIMITS = InputLimits()


def _envelope_model(event_type: str, data_model: type[DataModel]) -> type[CloudEvent[Any]]:
    """Build the full envelope model of one type: `type` pinned, `data` typed."""
    name = "".join(part.capitalize() for part in re.split(r"[._]", event_type)) + "Event"
    type_literal = cast(Any, Literal)[event_type]
    model = create_model(
        name,
        __base__=CloudEvent[data_model],  # type: ignore[valid-type]
        __module__=__name__,
        __doc__=f"A `{event_type}` CloudEvent: {data_model.__doc__}",
        type=(type_literal, Field(description=f"Event type: always '{event_type}'.")),
    )
    return cast(type[CloudEvent[Any]], model)


#: Every event type -> the model of its full envelope (used for validation and JSON Schema).
ENVELOPE_MODELS: dict[str, type[CloudEvent[Any]]] = {
    event_type: _envelope_model(event_type, model) for event_type, model in EVENT_TYPES.items()
}

_ANY_EVENT: TypeAdapter[CloudEvent[Any]] = TypeAdapter(
    Annotated[  # type: ignore[arg-type]
        Union[tuple(ENVELOPE_MODELS.values())],  # noqa: UP007
        Field(discriminator="type"),
    ],
    config=ConfigDict(hide_input_in_errors=True),
)


class InvalidEvent(ValueError):
    """A message that is not a valid contract-v1 event; `reason` says why, naming the field."""

    def __init__(
        self,
        reason: str,
        *,
        event_type: str | None = None,
        event_id: str | None = None,
        source: str | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        #: Envelope attributes of the rejected message, where readable (for logs / dead letters).
        self.event_type = event_type
        self.event_id = event_id
        self.source = source
        self.subject = subject


@dataclass(frozen=True, slots=True)
class Event(Generic[D]):
    """A validated event: the CloudEvents envelope and its typed `data`."""

    envelope: CloudEvent[D]

    @property
    def data(self) -> D:
        """The typed data model (e.g. `HazardReported`)."""
        return self.envelope.data

    @property
    def type(self) -> str:
        """CloudEvents `type`, e.g. 'hazard.reported'."""
        return self.envelope.type

    @property
    def id(self) -> str:
        """CloudEvents `id` (unique per source)."""
        return self.envelope.id

    @property
    def source(self) -> str:
        """CloudEvents `source`."""
        return self.envelope.source

    @property
    def subject(self) -> str:
        """CloudEvents `subject`: the id of the entity the event is about."""
        return self.envelope.subject

    @property
    def time(self) -> datetime:
        """When the change happened at the source (aware datetime)."""
        return self.envelope.time

    @property
    def key(self) -> bytes:
        """Kafka message key: the subject, UTF-8 encoded."""
        return self.envelope.subject.encode()

    @property
    def dedup_key(self) -> tuple[str, str]:
        """Idempotency key: (source, id)."""
        return (self.envelope.source, self.envelope.id)

    def to_json(self) -> bytes:
        """Serialize the whole CloudEvent (structured mode) as compact UTF-8 JSON."""
        return self.envelope.model_dump_json().encode()


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            part = escape_controls(part)
            path += f".{part}" if path else part
    return path


def _describe(error: ErrorDetails, *, in_union: bool) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        return "not JSON: " + str(ctx.get("error", error["msg"]))
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return "type: Field required"
    loc = error["loc"][1:] if in_union else error["loc"]
    if kind in ("model_attributes_type", "model_type", "dict_type") and not loc:
        return "Input should be a JSON object (a CloudEvents envelope)"
    msg = error["msg"]
    if kind == "string_pattern_mismatch":
        msg = pattern_message(str(ctx.get("pattern")), error.get("input")) or msg
    msg = msg.removeprefix("Value error, ")
    path = _path(loc)
    return f"{path}: {msg}" if path else msg


def _reason(exc: ValidationError, *, in_union: bool) -> str:
    # The input stays in memory for pattern_message, which searches it and never quotes it.
    errors = exc.errors(include_url=False)
    parts = [_describe(e, in_union=in_union) for e in errors[:_MAX_ERRORS_IN_REASON]]
    reason = "; ".join(dict.fromkeys(parts))
    if len(errors) > _MAX_ERRORS_IN_REASON:
        reason += f" (and {len(errors) - _MAX_ERRORS_IN_REASON} more errors)"
    return reason


def _invalid(reason: str, raw: bytes | str | None = None, **attrs: str | None) -> InvalidEvent:
    """Build an InvalidEvent carrying whatever envelope attributes can be read from `raw`.

    Reading them must never fail: any parser error (depth, encoding, size) just leaves
    them unknown. orjson bounds nesting itself, unlike `json` (RecursionError)."""
    if raw is not None:
        try:
            obj = orjson.loads(raw)
        except Exception:
            obj = None
        if isinstance(obj, dict):
            for attr, key in (("event_type", "type"), ("event_id", "id"), ("source", "source")):
                value = obj.get(key)
                attrs[attr] = escape_controls(value) if isinstance(value, str) else None
            subject = obj.get("subject")
            attrs["subject"] = escape_controls(subject) if isinstance(subject, str) else None
    return InvalidEvent(reason, **attrs)


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw` (strings skipped; brackets need not
    balance: this only bounds what a parser would have to descend)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b"", raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def check_bounds(raw: bytes | str, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a message too large or too deeply nested before any parser sees it."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if len(data) > limits.max_bytes:
        raise InvalidEvent(
            f"消息过大：{len(data)} 字节，上限 {limits.max_bytes} 字节 "
            f"(message of {len(data)} bytes exceeds the limit of {limits.max_bytes})"
        )
    # Cheap first: no more opening brackets than the limit means no deeper nesting.
    if data.count(b"[") + data.count(b"{") <= limits.max_depth:
        return
    depth = json_depth(data)
    if depth > limits.max_depth:
        raise InvalidEvent(
            f"JSON 嵌套过深：{depth} 层，上限 {limits.max_depth} 层 "
            f"(JSON nested {depth} levels deep; the limit is {limits.max_depth})"
        )


def _subject_mismatch(envelope: CloudEvent[Any]) -> str | None:
    data: DataModel = envelope.data
    expected = data.subject_value()
    if envelope.subject == expected:
        return None
    return f"subject: {envelope.subject!r} does not match data.{data.SUBJECT_FIELD} {expected!r}"


def parse_event(
    raw: bytes | str,
    types: Collection[str] | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Event[DataModel]:
    """Parse and validate one JSON-encoded CloudEvent of a v1 type.

    Size and nesting are bounded first (`limits`); then JSON is parsed once and validated
    strictly (no type coercion). `types`, if given, limits the accepted types (e.g.
    INBOUND_TYPES). Raises InvalidEvent, and nothing else, on any failure: too large or
    deep, not JSON, bad envelope, unknown or unaccepted type, invalid data, subject
    mismatch, dates out of the plausible range (`limits.plausibility`).
    """
    check_bounds(raw, limits)
    try:
        envelope = _ANY_EVENT.validate_json(raw, strict=True)
    except ValidationError as exc:
        raise _invalid(_reason(exc, in_union=True), raw) from None
    except (RecursionError, ValueError, OverflowError) as exc:  # a parser limit, not a bug
        raise _invalid(f"not JSON: {type(exc).__name__}", raw) from None
    problem = _subject_mismatch(envelope)
    if types is not None and envelope.type not in types:
        problem = f"type {envelope.type!r} is not accepted here"
    if problem is None:
        problem = implausible(envelope.time, envelope.data, limits.plausibility)
    if problem is not None:
        raise _invalid(
            problem,
            event_type=envelope.type,
            event_id=envelope.id,
            source=envelope.source,
            subject=envelope.subject,
        )
    return Event(envelope)


@overload
def make_event(
    type: str,
    source: str,
    subject: str,
    data: M,
    *,
    time: datetime,
    id: str | None = None,
    extensions: Mapping[str, str | bool | int] | None = None,
) -> Event[M]: ...


@overload
def make_event(
    type: str,
    source: str,
    subject: str,
    data: Mapping[str, Any],
    *,
    time: datetime,
    id: str | None = None,
    extensions: Mapping[str, str | bool | int] | None = None,
) -> Event[DataModel]: ...


def make_event(
    type: str,
    source: str,
    subject: str,
    data: DataModel | Mapping[str, Any],
    *,
    time: datetime,
    id: str | None = None,
    extensions: Mapping[str, str | bool | int] | None = None,
) -> Event[Any]:
    """Build a validated event (typically outbound) ready for `Event.to_json()`.

    `time` is required (contracts never read the clock); `id` defaults to a random UUID4.
    `data` is the type's data model instance or a mapping validated into it. Raises
    InvalidEvent (e.g. unknown type, invalid data, subject not matching the data).
    """
    envelope_model = ENVELOPE_MODELS.get(type)
    if envelope_model is None:
        raise InvalidEvent(f"unknown type {type!r}", event_type=type, subject=subject)
    payload: dict[str, Any] = dict(extensions or {})
    clash = sorted(CORE_ATTRIBUTES.intersection(payload))
    if clash:
        raise InvalidEvent(f"extensions: {clash[0]!r} is a core attribute, not an extension")
    payload.update(
        specversion=SPECVERSION,
        id=str(uuid.uuid4()) if id is None else id,
        source=source,
        type=type,
        time=time,
        subject=subject,
        data=data,
    )
    attrs = {"event_type": type, "event_id": payload["id"], "source": source, "subject": subject}
    try:
        envelope = envelope_model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidEvent(_reason(exc, in_union=False), **attrs) from None
    mismatch = _subject_mismatch(envelope)
    if mismatch is not None:
        raise InvalidEvent(mismatch, **attrs)
    return Event(envelope)
