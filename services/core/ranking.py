"""Digest tables for the committee office: hazards by discovery channel (自查 / 督导检查 /
群众举报) and the ranking of supervising departments (晾晒 / 排序通报), worst first.

Counted from hazard state at the digest's moment, like the digest's totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from contracts.common import FoundBy
from services.core.directory import DirectoryIndex
from services.core.periods import Period
from services.core.recipients import department_of, subject_of
from services.core.state import OPEN_STATUSES, HazardState

#: Discovery channels in the order digests list them.
CHANNELS: tuple[str, ...] = get_args(FoundBy)
#: Statuses a hazard counts as not yet closed out in (awaiting acceptance included).
UNCLOSED = frozenset({*OPEN_STATUSES, "rectified"})
_CHANNEL_COUNTS = ("reported", "major_reported", "open", "major_open")


def is_unclosed(hazard: HazardState) -> bool:
    """Not closed out (nor cancelled): reported, rectifying or awaiting acceptance."""
    return hazard.status in UNCLOSED


def is_overdue(hazard: HazardState, now: datetime) -> bool:
    """Still being rectified after its deadline."""
    return hazard.status in OPEN_STATUSES and hazard.deadline is not None and hazard.deadline < now


def closed_in(hazard: HazardState, period: Period) -> bool:
    """Closed out within the period."""
    return (
        hazard.status == "closed"
        and hazard.closed_at is not None
        and period.start <= hazard.closed_at < period.end
    )


def reported_in(hazard: HazardState, period: Period) -> bool:
    """Reported within the period."""
    return hazard.reported_at is not None and period.start <= hazard.reported_at < period.end


def closed_on_time(hazard: HazardState) -> bool:
    """Closed out by its deadline (one without a deadline cannot be late)."""
    return hazard.closed_at is not None and (
        hazard.deadline is None or hazard.closed_at <= hazard.deadline
    )


def by_found_by(hazards: Iterable[HazardState], period: Period) -> list[dict[str, Any]]:
    """One row per discovery channel: reported in the period and not yet closed out, of
    all levels and of major hazards."""
    counts: dict[str, Counter[str]] = {channel: Counter() for channel in CHANNELS}
    for hazard in hazards:
        count = counts.get(hazard.found_by, counts["other"])
        major = hazard.level == "major"
        if reported_in(hazard, period):
            count["reported"] += 1
            count["major_reported"] += major
        if is_unclosed(hazard):
            count["open"] += 1
            count["major_open"] += major
    return [
        {"found_by": channel, **{name: count[name] for name in _CHANNEL_COUNTS}}
        for channel, count in counts.items()
    ]


@dataclass
class _Tally:
    open: int = 0
    overdue: int = 0
    major_overdue: int = 0
    closed: int = 0
    closed_on_time: int = 0

    def add(self, hazard: HazardState, period: Period, now: datetime) -> None:
        self.open += is_unclosed(hazard)
        if is_overdue(hazard, now):
            self.overdue += 1
            self.major_overdue += hazard.level == "major"
        if closed_in(hazard, period):
            self.closed += 1
            self.closed_on_time += closed_on_time(hazard)

    def rate(self) -> int | None:
        """Closed on time, in percent of those closed in the period (None: none closed)."""
        return round(100 * self.closed_on_time / self.closed) if self.closed else None


def hazards_by_department(
    hazards: Iterable[HazardState], index: DirectoryIndex
) -> dict[str, list[HazardState]]:
    """Known hazards by the id of their supervising department (explicit, else the
    industry's lead department); those without one are left out."""
    found: dict[str, list[HazardState]] = {}
    for hazard in hazards:
        department = department_of(subject_of(hazard), index) if hazard.known else None
        if department is not None:
            found.setdefault(department.id, []).append(hazard)
    return found


def department_ranking(
    hazards: Iterable[HazardState], period: Period, now: datetime, index: DirectoryIndex
) -> list[dict[str, Any]]:
    """Every department of the directory ranked worst first: most overdue, most overdue
    major hazards, lowest on-time close-out rate, most still open. Hazards without a
    supervising department are the committee office's and are not ranked."""
    tallies = {dept.id: _Tally() for dept in index.directory.departments}
    for dept_id, own in hazards_by_department(hazards, index).items():
        for hazard in own:
            tallies[dept_id].add(hazard, period, now)
    ordered = sorted(tallies.items(), key=lambda item: _badness(*item))
    return [
        {
            "rank": rank,
            "ranked_of": len(ordered),
            "department": dept_id,
            **vars(tally),
            "on_time_rate": tally.rate(),
        }
        for rank, (dept_id, tally) in enumerate(ordered, start=1)
    ]


def _badness(dept_id: str, tally: _Tally) -> tuple[int, int, int, int, str]:
    rate = tally.rate()
    return (
        -tally.overdue,
        -tally.major_overdue,
        100 if rate is None else rate,
        -tally.open,
        dept_id,
    )
