"""Working-day arithmetic on the Chinese statutory calendar (法定节假日 and 调休).

Data sources, in order of precedence for a single day:

1. ops overrides: ``workdays`` (make-up working days) and ``holidays`` (days off);
2. the ``chinese_calendar`` package data, for the years it covers;
3. Monday–Friday.

Coverage of a *year* (see :meth:`WorkCalendar.coverage`):

* ``"statutory"``: the year lies inside the package's data range;
* ``"override"``: ops listed the year in ``covered_years`` ("our overrides for
  this year are the complete State Council arrangement");
* ``"weekdays_fallback"``: neither. Arithmetic still works (Monday–Friday plus any
  overrides) and never raises, but the result may be wrong around holidays.

Reporting design: the core never logs. Every year whose day table is built while
in ``weekdays_fallback`` is added to :attr:`WorkCalendar.uncovered_years_used`
(the calendar's only mutable state besides its lookup cache; it is recorded when
the per-year table is first built, so it costs nothing per call). A service warns
once per year by keeping its own ``warned`` set and logging
``calendar.uncovered_years_used - warned`` after handling events, and exports
``len(calendar.uncovered_years_used)`` as a gauge. ``duban config check`` uses the
pure :func:`coverage_warnings` instead.

Performance: each year is turned, once, into a table holding a per-day working
flag and the sorted ordinals of its working days; lookups are an index, and
``add_working_days`` / ``working_days_between`` are a few bisects.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar  # no stubs or py.typed
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_TIME_ZONE",
    "CalendarOverrides",
    "Coverage",
    "StatutoryData",
    "WorkCalendar",
    "coverage_warnings",
    "fallback_warning",
    "statutory_data",
]

DEFAULT_TIME_ZONE = "Asia/Shanghai"

Coverage = Literal["statutory", "override", "weekdays_fallback"]


@dataclass(frozen=True, slots=True)
class StatutoryData:
    """Holidays and make-up workdays published by the State Council, with their year range."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    first_year: int
    last_year: int


@lru_cache(maxsize=1)
def statutory_data() -> StatutoryData:
    """Return the ``chinese_calendar`` package data (range derived as the package does)."""
    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    years = [d.year for d in holidays]
    return StatutoryData(holidays, workdays, min(years), max(years))


@dataclass(frozen=True, slots=True)
class _YearTable:
    base: int  # ordinal of 1 January
    working: bytes  # working[ordinal - base] == 1 on working days
    ordinals: tuple[int, ...]  # ordinals of the working days, ascending


class WorkCalendar:
    """Statutory working-day calendar with ops overrides and a Monday–Friday fallback."""

    def __init__(
        self,
        *,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        covered_years: Iterable[int] = (),
        tz: ZoneInfo | None = None,
        statutory: StatutoryData | None = None,
    ) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        clash = self._holidays & self._workdays
        if clash:
            raise ValueError(f"dates both holiday and workday: {sorted(clash)}")
        self._covered_years = frozenset(covered_years)
        self._tz = tz if tz is not None else ZoneInfo(DEFAULT_TIME_ZONE)
        self._data = statutory if statutory is not None else statutory_data()
        self._tables: dict[int, _YearTable] = {}
        self._uncovered: set[int] = set()

    @classmethod
    def from_overrides(cls, overrides: CalendarOverrides) -> WorkCalendar:
        """Build a calendar from validated ops configuration."""
        return cls(
            holidays=overrides.holidays,
            workdays=overrides.workdays,
            covered_years=overrides.covered_years,
            tz=ZoneInfo(overrides.time_zone),
        )

    @property
    def tz(self) -> ZoneInfo:
        """Time zone in which days are counted."""
        return self._tz

    @property
    def statutory_years(self) -> range:
        """Years covered by the package data."""
        return range(self._data.first_year, self._data.last_year + 1)

    @property
    def last_covered_year(self) -> int:
        """Last year of the unbroken run of covered years starting at the package data."""
        year = self._data.last_year
        while year + 1 in self._covered_years:
            year += 1
        return year

    @property
    def uncovered_years_used(self) -> frozenset[int]:
        """Years that arithmetic has touched while they fell back to Monday–Friday."""
        return frozenset(self._uncovered)

    def coverage(self, year: int) -> Coverage:
        """Say where a year's working days come from (pure; records nothing)."""
        if self._data.first_year <= year <= self._data.last_year:
            return "statutory"
        if year in self._covered_years:
            return "override"
        return "weekdays_fallback"

    def overrides_in(self, year: int) -> int:
        """Count the override dates (holidays plus workdays) listed for a year."""
        return sum(1 for d in self._holidays | self._workdays if d.year == year)

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day."""
        table = self._table(d.year)
        return table.working[d.toordinal() - table.base] == 1

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Move ``n`` working days from aware ``start``, keeping its local time of day."""
        local = self._local(start)
        if n == 0:
            return local
        target = date.fromordinal(self._shift(local.toordinal(), local.year, n))
        wall = datetime.combine(target, local.time(), tzinfo=self._tz)
        return wall.astimezone(UTC).astimezone(self._tz)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in ``(a, b]``, or minus those in ``[b, a)`` when ``b < a``."""
        lo, hi = a.toordinal(), b.toordinal()
        if lo <= hi:
            return self._count(lo, hi)
        return -self._count(hi - 1, lo - 1)

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment!r}: pass an aware datetime")
        return moment.astimezone(self._tz)

    def _shift(self, ordinal: int, year: int, n: int) -> int:
        if n > 0:
            while True:
                ords = self._table(year).ordinals
                after = bisect_right(ords, ordinal)
                if after + n <= len(ords):
                    return ords[after + n - 1]
                n -= len(ords) - after
                year += 1
        m = -n
        while True:
            ords = self._table(year).ordinals
            before = bisect_left(ords, ordinal)
            if before >= m:
                return ords[before - m]
            m -= before
            year -= 1

    def _count(self, lo: int, hi: int) -> int:
        """Working days with ordinal in ``(lo, hi]``."""
        total = 0
        for year in range(date.fromordinal(lo + 1).year, date.fromordinal(hi).year + 1):
            ords = self._table(year).ordinals
            total += bisect_right(ords, hi) - bisect_right(ords, lo)
        return total

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            table = self._build(year)
            self._tables[year] = table
            if self.coverage(year) == "weekdays_fallback":
                self._uncovered.add(year)
        return table

    def _build(self, year: int) -> _YearTable:
        first = date(year, 1, 1)
        days = (date(year + 1, 1, 1) - first).days if year < 9999 else 365
        flags = bytearray(days)
        for i in range(days):
            flags[i] = self._decide(first + timedelta(days=i))
        base = first.toordinal()
        ordinals = tuple(base + i for i, flag in enumerate(flags) if flag)
        return _YearTable(base, bytes(flags), ordinals)

    def _decide(self, d: date) -> int:
        if d in self._workdays:
            return 1
        if d in self._holidays:
            return 0
        if d in self._data.workdays:
            return 1
        if d in self._data.holidays:
            return 0
        return 1 if d.weekday() < 5 else 0


def fallback_warning(year: int) -> str:
    """What ops are told when working days of ``year`` were counted Monday–Friday."""
    return (
        f"calendar.yaml：{year} 年没有法定节假日数据，该年的工作日暂按周一至周五计算；"
        f"国务院发布 {year} 年节假日安排后，请在 calendar.yaml 补上放假和调休日期，并把 {year} "
        f"写入 covered_years（{year}: no statutory holiday data; working days fall back to "
        "Monday–Friday）"
    )


def coverage_warnings(calendar: WorkCalendar, years: Iterable[int]) -> list[str]:
    """Human sentences for each year in ``years`` that is not fully covered."""
    warnings: list[str] = []
    for year in sorted(set(years)):
        kind = calendar.coverage(year)
        listed = calendar.overrides_in(year)
        if kind == "weekdays_fallback":
            advice = (
                f"Overrides list {listed} date(s) for {year}; if that is the complete "
                f"arrangement, add {year} to calendar overrides covered_years."
                if listed
                else f"Add the State Council's {year} arrangement under calendar overrides."
            )
            warnings.append(
                f"{year}: no statutory holiday data; working days fall back to "
                f"Monday–Friday. {advice}"
            )
        elif kind == "override" and not listed:
            warnings.append(
                f"{year}: listed in covered_years but no holiday or workday overrides "
                f"are given for it; every Monday–Friday counts as a working day."
            )
    return warnings


class CalendarOverrides(BaseModel):
    """Ops configuration for the working-day calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    time_zone: str = Field(
        default=DEFAULT_TIME_ZONE,
        description="IANA time zone in which working days and deadlines are counted.",
    )
    holidays: list[date] = Field(
        default_factory=list,
        description="Extra days off; they win over the statutory data (e.g. a local holiday).",
    )
    workdays: list[date] = Field(
        default_factory=list,
        description="Make-up working days (调休); they win over the statutory data and weekends.",
    )
    covered_years: list[int] = Field(
        default_factory=list,
        description=(
            "Years whose holidays/workdays overrides are the complete official arrangement; "
            "suppresses the Monday–Friday fallback warning for them."
        ),
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("covered_years")
    @classmethod
    def _plausible_years(cls, value: list[int]) -> list[int]:
        bad = [y for y in value if not 1900 <= y <= 2200]
        if bad:
            raise ValueError(f"implausible covered years: {bad}")
        return value

    @model_validator(mode="after")
    def _no_clash(self) -> CalendarOverrides:
        clash = sorted(set(self.holidays) & set(self.workdays))
        if clash:
            days = ", ".join(d.isoformat() for d in clash)
            raise ValueError(f"dates listed both as holidays and workdays: {days}")
        return self
