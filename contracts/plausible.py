"""Plausibility of the dates an event carries, checked after schema validation (contract v1).

Pure: no I/O, no clock. A date outside the limits is a publisher's mistake (1900-01-01 as a
placeholder, 9999-12-31 as "never"), not an instruction: it would send a whole escalation
ladder at once or overflow date arithmetic downstream. Callers refuse such an event with the
reason returned here, which names the field in Chinese and English.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, get_args, get_origin

from pydantic import AwareDatetime

from contracts.common import DataModel
from contracts.hazard import HazardReported

_DAY = timedelta(days=1)
_MIDNIGHT = datetime.min.time()


@dataclass(frozen=True, slots=True)
class Plausibility:
    """Limits of plausible dates (inclusive) and how far a deadline may precede the finding."""

    earliest: date = date(2000, 1, 1)
    latest: date = date(2100, 12, 31)
    deadline_tolerance: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        if self.earliest > self.latest:
            raise ValueError(f"earliest {self.earliest} is after latest {self.latest}")
        if self.deadline_tolerance < timedelta(0):
            raise ValueError("deadline_tolerance must not be negative")


DEFAULT_PLAUSIBILITY = Plausibility()


def _day(value: date) -> date:
    """The calendar date of `value`; a datetime's in its own offset."""
    return value.date() if isinstance(value, datetime) else value


def _out_of_range(path: str, value: date, limits: Plausibility) -> str | None:
    day = _day(value)
    if limits.earliest <= day <= limits.latest:
        return None
    return (
        f"{path}: 日期 {day.isoformat()} 超出允许范围 {limits.earliest.isoformat()} 至 "
        f"{limits.latest.isoformat()} (date outside the allowed range)"
    )


def _leaves(annotation: Any) -> Iterator[Any]:
    """The innermost types of an annotation (through Annotated, unions and containers)."""
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        yield from _leaves(args[0])
    elif not args:
        yield annotation
    else:
        for arg in args:
            yield from _leaves(arg)


def _holds_dates(leaf: Any) -> bool:
    if leaf is AwareDatetime:
        return True
    if not isinstance(leaf, type):
        return False
    return issubclass(leaf, date) or (issubclass(leaf, DataModel) and bool(_date_fields(leaf)))


_DATE_FIELDS: dict[type[DataModel], tuple[str, ...]] = {}


def _date_fields(model: type[DataModel]) -> tuple[str, ...]:
    """Names of the fields of `model` that may hold a date, directly or in nested models."""
    names = _DATE_FIELDS.get(model)
    if names is None:
        names = _DATE_FIELDS[model] = tuple(
            name
            for name, field in model.model_fields.items()
            if any(_holds_dates(leaf) for leaf in _leaves(field.annotation))
        )
    return names


def _dates(model: DataModel, path: str, found: list[tuple[str, date]]) -> None:
    """Append every date and datetime field of `model` and its nested models, with its path."""
    for name in _date_fields(type(model)):
        value = getattr(model, name)
        if isinstance(value, date):
            found.append((f"{path}.{name}", value))
        elif isinstance(value, DataModel):
            _dates(value, f"{path}.{name}", found)
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if isinstance(item, DataModel):
                    _dates(item, f"{path}.{name}[{index}]", found)


def _too_early(deadline: date, found_at: datetime, tolerance: timedelta) -> bool:
    """Whether `deadline` falls more than `tolerance` before `found_at`.

    A date deadline means the end of that day, taken in found_at's own offset (duban's time
    zone is not known here; the tolerance absorbs the difference). Only timedeltas are
    computed (subtracting aware datetimes builds no datetime), so nothing can overflow.
    """
    if isinstance(deadline, datetime):
        return found_at - deadline > tolerance
    if deadline >= found_at.date():  # the common case, decided without arithmetic
        return False
    start_of_day = datetime.combine(deadline, _MIDNIGHT, tzinfo=found_at.tzinfo)
    return found_at - start_of_day - _DAY > tolerance


def _deadline_before_found(data: HazardReported, limits: Plausibility) -> str | None:
    deadline, found_at = data.deadline, data.found_at
    if deadline is None:
        return None
    try:
        early = _too_early(deadline, found_at, limits.deadline_tolerance)
    except (OverflowError, ValueError):  # not expected (see _too_early): refuse, never crash
        early = True
    if not early:
        return None
    if isinstance(deadline, datetime):
        shown = (deadline.isoformat(), found_at.isoformat())
    else:
        shown = (deadline.isoformat(), found_at.date().isoformat())
    return (
        f"data.deadline: 整改期限 {shown[0]} 早于发现时间 {shown[1]} "
        "(deadline before the hazard was found)"
    )


def problems(data: DataModel, limits: Plausibility = DEFAULT_PLAUSIBILITY) -> list[str]:
    """Why the dates in an event's validated `data` are implausible; empty if they are not.

    Every date and datetime field, nested models included, must lie within [earliest,
    latest] (a datetime's date in its own offset); a `hazard.reported` deadline may precede
    found_at by at most the tolerance. Each reason names its field (`data.deadline: ...`).
    """
    dates: list[tuple[str, date]] = []
    _dates(data, "data", dates)
    found: list[str] = []
    for path, value in dates:
        reason = _out_of_range(path, value, limits)
        if reason is not None:
            found.append(reason)
    if not found and isinstance(data, HazardReported):
        relation = _deadline_before_found(data, limits)
        if relation is not None:
            found.append(relation)
    return found


def envelope_problem(time: datetime, limits: Plausibility = DEFAULT_PLAUSIBILITY) -> str | None:
    """Why the envelope `time` is implausible (outside [earliest, latest]), else None."""
    return _out_of_range("time", time, limits)


def implausible(
    time: datetime, data: DataModel, limits: Plausibility = DEFAULT_PLAUSIBILITY
) -> str | None:
    """The first reason to refuse a validated event for its dates (envelope first), else None."""
    reason = envelope_problem(time, limits)
    if reason is not None:
        return reason
    found = problems(data, limits)
    return found[0] if found else None
