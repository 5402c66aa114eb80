"""Template filters that show instants and dates the Chinese way: 2026年12月1日 18:00."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from services.notifier.templating.catalog import DEFAULT_TZ

_DEFAULT_ZONE: Final = ZoneInfo(DEFAULT_TZ)
_END_OF_DAY: Final = time(23, 59, 59)


def _parse_moment(value: object, tz: tzinfo) -> datetime | date | None:
    """A datetime (converted to ``tz`` when aware) or a plain date; None if unparsable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return moment.astimezone(tz) if moment.tzinfo is not None else moment


def _cn_day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _cn_minute(moment: datetime) -> str:
    if moment.time().replace(microsecond=0) == _END_OF_DAY:
        return _cn_day(moment)  # a deadline given as a date means the end of that day
    return f"{_cn_day(moment)} {moment.hour:02d}:{moment.minute:02d}"


def _cn_last_day(end: datetime) -> str:
    """The day before an end at midnight (an exclusive end), else the end's own day."""
    day = end.date()
    if end.time() == time(0, 0):
        day -= timedelta(days=1)
    return _cn_day(day)


def _cn_moment(value: object, tz: tzinfo, show: Callable[[datetime], str]) -> str:
    """``show`` an instant, ``_cn_day`` a bare date; empty for none, unparsable as is."""
    if value is None or value == "":
        return ""
    if type(value) is str:
        return _remembered(value, tz, show)
    if type(value) is datetime:  # aware ones in one zone compare equal across a fold
        return _remembered((value, value.fold), tz, show)
    return _cn_value(value, tz, show)


@functools.lru_cache(maxsize=4096)
def _remembered(
    key: str | tuple[datetime, int], tz: tzinfo, show: Callable[[datetime], str]
) -> str:
    """:func:`_cn_moment` of a text or a datetime (with its fold), remembered: the same
    deadlines and due dates come back in notice after notice."""
    return _cn_value(key if isinstance(key, str) else key[0], tz, show)


def _cn_value(value: object, tz: tzinfo, show: Callable[[datetime], str]) -> str:
    moment = _parse_moment(value, tz)
    if moment is None:
        return str(value)
    if isinstance(moment, datetime):
        return show(moment)
    return _cn_day(moment)


def cn_datetime(value: object, tz: tzinfo = _DEFAULT_ZONE) -> str:
    """``2026-12-01T18:00:00+08:00`` → ``2026年12月1日 18:00``; a bare date, or the end of a
    day (23:59:59, what a deadline given as a date becomes), has no time."""
    return _cn_moment(value, tz, _cn_minute)


def cn_date(value: object, tz: tzinfo = _DEFAULT_ZONE) -> str:
    """``2026-12-01T18:00:00+08:00`` or ``2026-12-01`` → ``2026年12月1日``."""
    return _cn_moment(value, tz, _cn_day)


def cn_end_date(value: object, tz: tzinfo = _DEFAULT_ZONE) -> str:
    """The last day of a period whose exclusive end is ``value``, in Chinese.

    An end at midnight (``2027-01-01T00:00:00+08:00``) → ``2026年12月31日``; any other
    instant → its own day."""
    return _cn_moment(value, tz, _cn_last_day)
