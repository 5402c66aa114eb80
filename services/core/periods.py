"""Calendar periods (ISO week, month, quarter, half-year, year) and recurring instants.

All inputs are aware datetimes; all results are aware datetimes in the requested
time zone. Boundaries are local midnights, a period's ``end`` is exclusive and
equals the next period's ``start``.

Wall-clock rules for zones with daylight saving time: a wall time that does not
exist (spring forward) is moved forward by the gap (02:30 becomes 03:30 in
Europe/Berlin); an ambiguous one (fall back) resolves to its first occurrence.
Comparisons are made on UTC instants, never on wall times.
"""

from __future__ import annotations

import calendar as _stdcal
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, get_args

from services.core.workcalendar import WorkCalendar

__all__ = [
    "Period",
    "PeriodKind",
    "before_end",
    "next_monthly_at",
    "next_period",
    "next_weekly_at",
    "period_containing",
]

PeriodKind = Literal["week", "month", "quarter", "half_year", "year"]
_KINDS: frozenset[str] = frozenset(get_args(PeriodKind))
_MONTHS_PER: dict[str, int] = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar period ``[start, end)`` in local time, with a stable key like "2026-Q4"."""

    kind: PeriodKind
    start: datetime
    end: datetime
    key: str


def _wall(d: date, at: time, tz: tzinfo) -> datetime:
    """Aware datetime for wall time ``at`` on ``d`` in ``tz``, normalised to a real instant."""
    naive = datetime.combine(d, at.replace(tzinfo=None, fold=0))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware datetime")
    return moment


def _key(kind: PeriodKind, first: date) -> str:
    if kind == "week":
        iso = first.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if kind == "month":
        return f"{first.year}-{first.month:02d}"
    if kind == "quarter":
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    if kind == "half_year":
        return f"{first.year}-H{(first.month - 1) // 6 + 1}"
    return str(first.year)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_containing(kind: PeriodKind, at: datetime, tz: tzinfo) -> Period:
    """The period of ``kind`` that contains instant ``at`` in time zone ``tz``."""
    if kind not in _KINDS:
        raise ValueError(f"unknown period kind {kind!r}")
    day = _aware(at).astimezone(tz).date()
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    else:
        span = _MONTHS_PER[kind]
        first = date(day.year, (day.month - 1) // span * span + 1, 1)
        after = _add_months(first, span)
    return Period(kind, _wall(first, time(), tz), _wall(after, time(), tz), _key(kind, first))


def next_period(p: Period) -> Period:
    """The period of the same kind immediately after ``p``."""
    tz = p.start.tzinfo
    assert tz is not None
    return period_containing(p.kind, p.end, tz)


def next_weekly_at(after: datetime, weekday: int, at_time: time, tz: tzinfo) -> datetime:
    """First ``weekday`` (0 = Monday) at local ``at_time`` strictly after ``after``."""
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), got {weekday}")
    instant = _aware(after).astimezone(UTC)
    today = instant.astimezone(tz).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    candidate = _wall(day, at_time, tz)
    if candidate.astimezone(UTC) <= instant:
        candidate = _wall(day + timedelta(days=7), at_time, tz)
    return candidate


def next_monthly_at(after: datetime, day: int, at_time: time, tz: tzinfo) -> datetime:
    """First ``day`` (29–31 clamp to month end) at local ``at_time`` strictly after ``after``."""
    if not 1 <= day <= 31:
        raise ValueError(f"day must be 1..31, got {day}")
    instant = _aware(after).astimezone(UTC)
    month = instant.astimezone(tz).date().replace(day=1)
    for _ in range(2):
        last = _stdcal.monthrange(month.year, month.month)[1]
        candidate = _wall(month.replace(day=min(day, last)), at_time, tz)
        if candidate.astimezone(UTC) > instant:
            return candidate
        month = _add_months(month, 1)
    raise AssertionError("unreachable: next month's occurrence is always later")


def before_end(
    period: Period,
    days: int = 7,
    working: bool = False,
    calendar: WorkCalendar | None = None,
) -> datetime:
    """Local midnight ``days`` (working) days before ``period.end``, in the period's zone."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    tz = period.start.tzinfo
    assert tz is not None
    if not working:
        local_end = period.end.astimezone(tz)
        return _wall(local_end.date() - timedelta(days=days), local_end.time(), tz)
    if calendar is None:
        raise ValueError("working=True needs a WorkCalendar")
    return calendar.add_working_days(period.end, -days).astimezone(tz)
