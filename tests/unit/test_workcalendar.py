"""WorkCalendar against the real 2026 State Council arrangement shipped in chinese_calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from services.core.workcalendar import (
    CalendarOverrides,
    StatutoryData,
    WorkCalendar,
    coverage_warnings,
    statutory_data,
)

SH = ZoneInfo("Asia/Shanghai")
PACKAGE_LAST_YEAR = max(chinese_calendar.holidays).year
# The 2027 fallback tests below rely on the pinned chinese-calendar (1.11.0) ending in 2026;
# when the pin is bumped they fail loudly and should move on to the next uncovered year.


def at(y: int, m: int, d: int, hh: int = 18, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# --- facts of the pinned package (chinese-calendar 1.11.0) --------------------------------


def test_package_covers_2026_and_range_is_derived() -> None:
    data = statutory_data()
    assert data.last_year == PACKAGE_LAST_YEAR
    assert data.last_year >= 2026
    assert data.first_year == min(chinese_calendar.holidays).year
    assert WorkCalendar().last_covered_year == PACKAGE_LAST_YEAR


@pytest.mark.parametrize(
    ("day", "working", "why"),
    [
        (date(2026, 1, 1), False, "New Year's Day (Thu)"),
        (date(2026, 1, 2), False, "New Year bridge (Fri)"),
        (date(2026, 1, 4), True, "make-up workday for New Year (Sun)"),
        (date(2026, 2, 13), True, "ordinary Friday before Spring Festival"),
        (date(2026, 2, 14), True, "make-up workday for Spring Festival (Sat)"),
        (date(2026, 2, 15), False, "Spring Festival first day (Sun)"),
        (date(2026, 2, 16), False, "Spring Festival (Mon)"),
        (date(2026, 2, 20), False, "Spring Festival (Fri)"),
        (date(2026, 2, 23), False, "Spring Festival last day (Mon)"),
        (date(2026, 2, 24), True, "back to work (Tue)"),
        (date(2026, 2, 28), True, "make-up workday for Spring Festival (Sat)"),
        (date(2026, 5, 5), False, "Labour Day (Tue)"),
        (date(2026, 5, 9), True, "make-up workday for Labour Day (Sat)"),
        (date(2026, 9, 20), True, "make-up workday for National Day (Sun)"),
        (date(2026, 9, 25), False, "Mid-autumn Festival (Fri)"),
        (date(2026, 9, 28), True, "ordinary Monday"),
        (date(2026, 9, 30), True, "last workday before National Day (Wed)"),
        (date(2026, 10, 1), False, "National Day (Thu)"),
        (date(2026, 10, 7), False, "National Day last day (Wed)"),
        (date(2026, 10, 8), True, "back to work (Thu)"),
        (date(2026, 10, 10), True, "make-up workday for National Day (Sat)"),
        (date(2026, 10, 11), False, "ordinary Sunday"),
        (date(2026, 11, 21), False, "ordinary Saturday"),
    ],
)
def test_is_working_day_2026(cal: WorkCalendar, day: date, working: bool, why: str) -> None:
    assert cal.is_working_day(day) is working, why


def test_agrees_with_package_on_every_covered_day(cal: WorkCalendar) -> None:
    data = statutory_data()
    day, last = date(data.first_year, 1, 1), date(data.last_year, 12, 31)
    while day <= last:
        assert cal.is_working_day(day) is chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    assert cal.uncovered_years_used == frozenset()


# --- add_working_days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (at(2026, 9, 30), 1, at(2026, 10, 8)),  # over National Day 10-01..10-07
        (at(2026, 9, 24), 1, at(2026, 9, 28)),  # over Mid-autumn 09-25..09-27
        (at(2026, 9, 18), 1, at(2026, 9, 20)),  # Friday -> make-up Sunday
        (at(2026, 10, 9), 1, at(2026, 10, 10)),  # Friday -> make-up Saturday
        (at(2026, 10, 10), 1, at(2026, 10, 12)),  # make-up Saturday -> Monday
        (at(2026, 9, 28), 4, at(2026, 10, 9)),  # 09-29, 09-30, 10-08, 10-09
        (at(2026, 9, 28), 5, at(2026, 10, 10)),
        (at(2026, 2, 13), 1, at(2026, 2, 14)),  # Spring Festival make-up Saturday
        (at(2026, 2, 14), 1, at(2026, 2, 24)),  # over 02-15..02-23
        (at(2026, 2, 27), 1, at(2026, 2, 28)),  # second make-up Saturday
        (at(2026, 10, 3), 1, at(2026, 10, 8)),  # from inside a holiday
        (at(2025, 12, 31), 1, at(2026, 1, 4)),  # over New Year onto make-up Sunday
        # n == 0 keeps start, even on a holiday
        (at(2026, 10, 3, 7, 15), 0, at(2026, 10, 3, 7, 15)),
        (at(2026, 9, 30), 0, at(2026, 9, 30)),
        # negative n: working days before
        (at(2026, 10, 8), -1, at(2026, 9, 30)),
        (at(2026, 10, 3), -1, at(2026, 9, 30)),  # from inside a holiday
        (at(2026, 2, 24), -1, at(2026, 2, 14)),
        (at(2026, 9, 22), -2, at(2026, 9, 20)),  # lands on make-up Sunday
        (at(2026, 10, 12), -6, at(2026, 9, 28)),
        (at(2026, 1, 4), -1, at(2025, 12, 31)),
    ],
)
def test_add_working_days(cal: WorkCalendar, start: datetime, n: int, expected: datetime) -> None:
    result = cal.add_working_days(start, n)
    assert result == expected
    assert (result.hour, result.minute) == (expected.hour, expected.minute)
    assert result.tzinfo is SH


def test_add_working_days_counts_in_calendar_zone(cal: WorkCalendar) -> None:
    # 10:00 UTC is 18:00 in Shanghai on Wed 09-30; 20:00 UTC is already 04:00 on 10-01.
    assert cal.add_working_days(datetime(2026, 9, 30, 10, tzinfo=UTC), 1) == at(2026, 10, 8)
    assert cal.add_working_days(datetime(2026, 9, 30, 20, tzinfo=UTC), 1) == at(2026, 10, 8, 4)


def test_add_working_days_rejects_naive(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_days(datetime(2026, 9, 30, 18), 1)


def _reference_add(cal: WorkCalendar, day: date, n: int) -> date:
    step = 1 if n > 0 else -1
    while n:
        day += timedelta(days=step)
        if cal.is_working_day(day):
            n -= step
    return day


def test_add_matches_day_by_day_reference_and_between_inverts_it(cal: WorkCalendar) -> None:
    day = date(2025, 12, 1)
    while day <= date(2027, 1, 31):
        for n in (-23, -6, -1, 0, 1, 2, 7, 30):
            got = cal.add_working_days(datetime.combine(day, datetime.min.time(), SH), n).date()
            if n:
                assert got == _reference_add(cal, day, n), (day, n)
            assert cal.working_days_between(day, got) == n, (day, n)
        day += timedelta(days=3)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2026, 9, 30), date(2026, 10, 8), 1),
        (date(2026, 10, 8), date(2026, 9, 30), -1),
        (date(2026, 9, 30), date(2026, 9, 30), 0),
        (date(2026, 10, 1), date(2026, 10, 7), 0),
        (date(2026, 9, 19), date(2026, 9, 20), 1),  # make-up Sunday counts
        (date(2026, 2, 1), date(2026, 3, 1), 16),  # incl. Sat 02-14 and 02-28
        (date(2025, 12, 31), date(2026, 12, 31), 248),  # all of 2026
        (date(2026, 12, 25), date(2027, 1, 8), 10),  # into the 2027 fallback
    ],
)
def test_working_days_between(cal: WorkCalendar, a: date, b: date, expected: int) -> None:
    assert cal.working_days_between(a, b) == expected


# --- overrides --------------------------------------------------------------------------------


def test_overrides_beat_package_data() -> None:
    cal = WorkCalendar(
        holidays={date(2026, 10, 10), date(2026, 6, 3)},  # cancel make-up Sat; local holiday Wed
        workdays={date(2026, 10, 5)},  # a statutory holiday worked anyway
    )
    assert not cal.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 6, 3))
    assert cal.is_working_day(date(2026, 10, 5))
    assert cal.add_working_days(at(2026, 9, 30), 1) == at(2026, 10, 5)
    assert cal.add_working_days(at(2026, 10, 9), 1) == at(2026, 10, 12)


def test_date_in_both_override_sets_is_rejected() -> None:
    with pytest.raises(ValueError, match="both"):
        WorkCalendar(holidays={date(2026, 10, 10)}, workdays={date(2026, 10, 10)})


# --- beyond the data --------------------------------------------------------------------------


def test_2027_falls_back_to_weekdays_and_is_reported(cal: WorkCalendar) -> None:
    assert cal.coverage(2027) == "weekdays_fallback"
    assert cal.uncovered_years_used == frozenset()  # coverage() is a pure query
    assert cal.is_working_day(date(2027, 1, 1))  # real New Year's Day, but no data: Friday
    assert not cal.is_working_day(date(2027, 1, 2))
    assert cal.add_working_days(at(2026, 12, 31), 1) == at(2027, 1, 1)
    assert cal.add_working_days(at(2027, 2, 5), 5) == at(2027, 2, 12)
    assert cal.uncovered_years_used == frozenset({2027})
    cal.add_working_days(at(2026, 11, 2), 3)
    assert cal.uncovered_years_used == frozenset({2027})  # covered years never reported


def test_far_years_never_raise(cal: WorkCalendar) -> None:
    assert cal.add_working_days(at(1999, 12, 31), 1) == at(2000, 1, 3)
    assert cal.add_working_days(at(2031, 1, 3), -260) == at(2030, 1, 4)
    assert cal.uncovered_years_used == frozenset({1999, 2000, 2030, 2031})


def test_covered_years_override_suppresses_fallback() -> None:
    new_year_2027 = {date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)}
    cal = WorkCalendar(holidays=new_year_2027, workdays={date(2027, 1, 9)}, covered_years={2027})
    assert cal.coverage(2027) == "override"
    assert cal.coverage(2026) == "statutory"
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 9))
    assert cal.add_working_days(at(2026, 12, 31), 1) == at(2027, 1, 4)
    assert cal.uncovered_years_used == frozenset()
    assert cal.last_covered_year == 2027
    assert coverage_warnings(cal, [2026, 2027]) == []


def test_last_covered_year_follows_package_and_contiguous_overrides() -> None:
    fake = StatutoryData(frozenset({date(2030, 1, 1)}), frozenset(), 2004, 2030)
    assert WorkCalendar(statutory=fake).last_covered_year == 2030
    assert WorkCalendar(statutory=fake, covered_years={2031, 2032}).last_covered_year == 2032
    assert WorkCalendar(statutory=fake, covered_years={2032}).last_covered_year == 2030
    assert WorkCalendar(statutory=fake).coverage(2029) == "statutory"


def test_coverage_warnings() -> None:
    cal = WorkCalendar(holidays={date(2028, 1, 1)}, covered_years={2029})
    assert coverage_warnings(cal, [2026, 2027, 2027, 2028, 2029]) == [
        "2027: no statutory holiday data; working days fall back to Monday–Friday. "
        "Add the State Council's 2027 arrangement under calendar overrides.",
        "2028: no statutory holiday data; working days fall back to Monday–Friday. "
        "Overrides list 1 date(s) for 2028; if that is the complete arrangement, "
        "add 2028 to calendar overrides covered_years.",
        "2029: listed in covered_years but no holiday or workday overrides are given for it; "
        "every Monday–Friday counts as a working day.",
    ]
    assert cal.uncovered_years_used == frozenset()  # warnings are pure too


# --- configuration model ----------------------------------------------------------------------


def test_overrides_model_parses_and_builds_calendar() -> None:
    o = CalendarOverrides.model_validate(
        {"holidays": ["2026-10-10"], "workdays": ["2027-01-09"], "covered_years": [2027]}
    )
    assert o.time_zone == "Asia/Shanghai"
    cal = WorkCalendar.from_overrides(o)
    assert cal.tz == SH
    assert not cal.is_working_day(date(2026, 10, 10))
    assert cal.coverage(2027) == "override"
    berlin = WorkCalendar.from_overrides(CalendarOverrides(time_zone="Europe/Berlin"))
    assert berlin.tz == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "both"),
        ({"extra_days": []}, "Extra inputs are not permitted"),
        ({"time_zone": "Asia/Peking"}, "unknown time zone"),
        ({"covered_years": [27]}, "implausible"),
        ({"holidays": ["2026-02-30"]}, "date"),
    ],
)
def test_overrides_model_rejects(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarOverrides.model_validate(data)


def test_overrides_fields_are_described() -> None:
    for name, field in CalendarOverrides.model_fields.items():
        assert field.description, name
