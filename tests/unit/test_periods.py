"""Period arithmetic: keys, boundaries, recurring instants, DST wall-clock behaviour."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.core.periods import (
    Period,
    PeriodKind,
    before_end,
    next_monthly_at,
    next_period,
    next_weekly_at,
    period_containing,
)
from services.core.workcalendar import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = 0
NINE = time(9, 0)


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def berlin(y: int, m: int, d: int, hh: int = 0, mm: int = 0, fold: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN, fold=fold)


@pytest.mark.parametrize(
    ("kind", "moment", "key", "start", "end"),
    [
        ("quarter", sh(2026, 11, 15, 12), "2026-Q4", sh(2026, 10, 1), sh(2027, 1, 1)),
        ("quarter", sh(2026, 3, 31, 23, 59, 59), "2026-Q1", sh(2026, 1, 1), sh(2026, 4, 1)),
        ("quarter", sh(2026, 4, 1), "2026-Q2", sh(2026, 4, 1), sh(2026, 7, 1)),
        ("quarter", sh(2026, 8, 31), "2026-Q3", sh(2026, 7, 1), sh(2026, 10, 1)),
        ("half_year", sh(2026, 6, 30, 23, 59, 59), "2026-H1", sh(2026, 1, 1), sh(2026, 7, 1)),
        ("half_year", sh(2026, 7, 1), "2026-H2", sh(2026, 7, 1), sh(2027, 1, 1)),
        ("year", sh(2026, 12, 31, 23, 59), "2026", sh(2026, 1, 1), sh(2027, 1, 1)),
        ("month", sh(2026, 11, 30, 23, 59), "2026-11", sh(2026, 11, 1), sh(2026, 12, 1)),
        ("month", sh(2026, 2, 28, 12), "2026-02", sh(2026, 2, 1), sh(2026, 3, 1)),
        ("month", sh(2028, 2, 29, 12), "2028-02", sh(2028, 2, 1), sh(2028, 3, 1)),
        ("month", sh(2026, 12, 31), "2026-12", sh(2026, 12, 1), sh(2027, 1, 1)),
        # ISO weeks start Monday 00:00 local; 2026 has 53 ISO weeks
        ("week", sh(2026, 11, 26, 10), "2026-W48", sh(2026, 11, 23), sh(2026, 11, 30)),
        ("week", sh(2026, 12, 31, 18), "2026-W53", sh(2026, 12, 28), sh(2027, 1, 4)),
        ("week", sh(2027, 1, 3, 23, 59), "2026-W53", sh(2026, 12, 28), sh(2027, 1, 4)),
        ("week", sh(2027, 1, 4), "2027-W01", sh(2027, 1, 4), sh(2027, 1, 11)),
        ("week", sh(2025, 12, 31), "2026-W01", sh(2025, 12, 29), sh(2026, 1, 5)),
        ("week", sh(2026, 1, 1), "2026-W01", sh(2025, 12, 29), sh(2026, 1, 5)),
    ],
)
def test_period_containing(
    kind: PeriodKind, moment: datetime, key: str, start: datetime, end: datetime
) -> None:
    p = period_containing(kind, moment, SH)
    assert p == Period(kind, start, end, key)
    assert p.start <= moment < p.end


def test_period_uses_local_date_of_the_instant() -> None:
    moment = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)  # 2026-10-01 00:30 in Shanghai
    assert period_containing("quarter", moment, SH).key == "2026-Q4"
    assert period_containing("month", moment, SH).key == "2026-10"
    assert period_containing("month", moment, UTC).key == "2026-09"


def test_period_rejects_naive_and_unknown_kind() -> None:
    with pytest.raises(ValueError, match="naive"):
        period_containing("month", datetime(2026, 1, 1), SH)
    with pytest.raises(ValueError, match="kind"):
        period_containing("fortnight", sh(2026, 1, 1), SH)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "moment", "keys"),
    [
        ("week", sh(2026, 12, 20), ["2026-W51", "2026-W52", "2026-W53", "2027-W01"]),
        ("month", sh(2026, 11, 5), ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]),
        ("quarter", sh(2026, 8, 1), ["2026-Q3", "2026-Q4", "2027-Q1"]),
        ("half_year", sh(2026, 8, 1), ["2026-H2", "2027-H1", "2027-H2"]),
        ("year", sh(2026, 8, 1), ["2026", "2027"]),
    ],
)
def test_next_period_chains(kind: PeriodKind, moment: datetime, keys: list[str]) -> None:
    p = period_containing(kind, moment, SH)
    seen = [p.key]
    for _ in keys[1:]:
        q = next_period(p)
        assert q.start == p.end
        p = q
        seen.append(p.key)
    assert seen == keys


def test_berlin_periods_start_at_local_midnight_across_dst() -> None:
    march = period_containing("month", berlin(2026, 3, 15), BERLIN)
    assert march.start.utcoffset() == timedelta(hours=1)
    assert march.end == berlin(2026, 4, 1)
    assert march.end.utcoffset() == timedelta(hours=2)
    assert next_period(march).start == march.end


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (sh(2026, 11, 23, 8, 59), sh(2026, 11, 23, 9)),  # Monday 08:59 -> today 09:00
        (sh(2026, 11, 23, 9, 0), sh(2026, 11, 30, 9)),  # strictly after: next week
        (sh(2026, 11, 23, 9, 1), sh(2026, 11, 30, 9)),
        (sh(2026, 11, 22, 23, 59), sh(2026, 11, 23, 9)),  # Sunday night
        (sh(2026, 11, 25, 12), sh(2026, 11, 30, 9)),  # Wednesday
        (sh(2026, 12, 30, 12), sh(2027, 1, 4, 9)),  # across the year boundary
        (datetime(2026, 11, 23, 0, 59, tzinfo=UTC), sh(2026, 11, 23, 9)),  # 08:59 local
        (datetime(2026, 11, 23, 1, 0, 1, tzinfo=UTC), sh(2026, 11, 30, 9)),  # 09:00:01 local
    ],
)
def test_next_weekly_monday_nine(now: datetime, expected: datetime) -> None:
    result = next_weekly_at(now, MONDAY, NINE, SH)
    assert result == expected
    assert result.tzinfo is SH


@pytest.mark.parametrize(
    ("now", "weekday", "at_time", "expected", "offset_hours"),
    [
        # spring forward on Sun 2026-03-29: Monday 09:00 stays 09:00 wall time, now UTC+2
        (berlin(2026, 3, 23, 9), MONDAY, NINE, berlin(2026, 3, 30, 9), 2),
        # fall back on Sun 2026-10-25: back to UTC+1
        (berlin(2026, 10, 19, 10), MONDAY, NINE, berlin(2026, 10, 26, 9), 1),
        # 02:30 does not exist on 2026-03-29: moved forward by the gap to 03:30 CEST
        (berlin(2026, 3, 28, 12), 6, time(2, 30), berlin(2026, 3, 29, 3, 30), 2),
        # 02:30 happens twice on 2026-10-25: the first occurrence (CEST) is used
        (berlin(2026, 10, 24, 12), 6, time(2, 30), berlin(2026, 10, 25, 2, 30), 2),
        # already past the first 02:30 (now is the second 02:15, CET): next week, not today
        (berlin(2026, 10, 25, 2, 15, fold=1), 6, time(2, 30), berlin(2026, 11, 1, 2, 30), 1),
    ],
)
def test_next_weekly_keeps_wall_time_across_dst(
    now: datetime, weekday: int, at_time: time, expected: datetime, offset_hours: int
) -> None:
    result = next_weekly_at(now, weekday, at_time, BERLIN)
    assert result == expected
    assert result.replace(tzinfo=None) == expected.replace(tzinfo=None)
    assert result.utcoffset() == timedelta(hours=offset_hours)
    assert result.astimezone(UTC) > now.astimezone(UTC)


def test_next_weekly_elapsed_time_across_spring_forward() -> None:
    result = next_weekly_at(berlin(2026, 3, 23, 9), MONDAY, NINE, BERLIN)
    assert result.astimezone(UTC) - berlin(2026, 3, 23, 9).astimezone(UTC) == timedelta(hours=167)


@pytest.mark.parametrize(
    ("now", "day", "expected"),
    [
        (sh(2026, 11, 30, 12), 1, sh(2026, 12, 1, 9)),
        (sh(2026, 12, 1, 8, 59), 1, sh(2026, 12, 1, 9)),
        (sh(2026, 12, 1, 9), 1, sh(2027, 1, 1, 9)),  # strictly after
        (sh(2026, 12, 15), 1, sh(2027, 1, 1, 9)),
        (sh(2026, 1, 31, 10), 31, sh(2026, 2, 28, 9)),  # clamps to February's end
        (sh(2028, 2, 1), 31, sh(2028, 2, 29, 9)),  # leap year
        (sh(2026, 2, 28, 9), 31, sh(2026, 3, 31, 9)),
        (sh(2026, 4, 10), 15, sh(2026, 4, 15, 9)),
    ],
)
def test_next_monthly_at(now: datetime, day: int, expected: datetime) -> None:
    assert next_monthly_at(now, day, NINE, SH) == expected


def test_next_monthly_keeps_wall_time_in_berlin() -> None:
    result = next_monthly_at(berlin(2026, 3, 20), 1, NINE, BERLIN)
    assert result == berlin(2026, 4, 1, 9)
    assert result.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: next_weekly_at(sh(2026, 1, 1), 7, NINE, SH), "weekday"),
        (lambda: next_monthly_at(sh(2026, 1, 1), 0, NINE, SH), "day"),
        (lambda: next_monthly_at(sh(2026, 1, 1), 32, NINE, SH), "day"),
        (lambda: next_weekly_at(datetime(2026, 1, 1), 0, NINE, SH), "naive"),
    ],
)
def test_recurrence_rejects_bad_arguments(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# --- before_end -------------------------------------------------------------------------------


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


@pytest.mark.parametrize(
    ("kind", "moment", "days", "working", "expected"),
    [
        ("month", sh(2026, 11, 10), 7, False, sh(2026, 11, 24)),
        ("month", sh(2026, 2, 10), 7, False, sh(2026, 2, 22)),
        ("month", sh(2026, 11, 10), 0, False, sh(2026, 12, 1)),
        ("quarter", sh(2026, 8, 1), 1, True, sh(2026, 9, 30)),  # last working day of Q3
        ("quarter", sh(2026, 8, 1), 3, True, sh(2026, 9, 28)),
        ("month", sh(2026, 10, 2), 1, True, sh(2026, 10, 30)),  # Oct ends on a Saturday
        ("week", sh(2026, 10, 1), 1, True, sh(2026, 9, 30)),  # W40 holiday week
        ("week", sh(2026, 10, 1), 3, True, sh(2026, 9, 28)),
        ("month", sh(2026, 2, 10), 1, True, sh(2026, 2, 28)),  # make-up Saturday
        ("month", sh(2026, 2, 10), 5, True, sh(2026, 2, 24)),
        ("year", sh(2026, 5, 1), 0, True, sh(2027, 1, 1)),
    ],
)
def test_before_end(
    cal: WorkCalendar,
    kind: PeriodKind,
    moment: datetime,
    days: int,
    working: bool,
    expected: datetime,
) -> None:
    period = period_containing(kind, moment, SH)
    assert before_end(period, days=days, working=working, calendar=cal) == expected


def test_before_end_in_berlin_keeps_local_midnight() -> None:
    march = period_containing("month", berlin(2026, 3, 10), BERLIN)
    result = before_end(march, days=7)
    assert result == berlin(2026, 3, 25)
    assert result.utcoffset() == timedelta(hours=1)
    berlin_cal = WorkCalendar(tz=BERLIN)
    assert before_end(march, days=1, working=True, calendar=berlin_cal) == berlin(2026, 3, 31)


def test_before_end_rejects_bad_arguments() -> None:
    period = period_containing("month", sh(2026, 11, 10), SH)
    with pytest.raises(ValueError, match="WorkCalendar"):
        before_end(period, days=3, working=True)
    with pytest.raises(ValueError, match=">= 0"):
        before_end(period, days=-1)


def test_period_boundaries_are_local_dates() -> None:
    p = period_containing("quarter", sh(2026, 11, 1), SH)
    assert (p.start.date(), p.end.date()) == (date(2026, 10, 1), date(2027, 1, 1))
