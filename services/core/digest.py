"""Weekly and monthly digests (周上报、月调度): major-hazard statistics counted from state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.core.duties import Digest, DutyState
from services.core.evaluate import PlannedNotice, Rules, address
from services.core.periods import (
    Period,
    PeriodKind,
    next_monthly_at,
    next_weekly_at,
    period_containing,
)
from services.core.policy import Role
from services.core.recipients import Subject
from services.core.state import OPEN_STATUSES, HazardState

_COUNTS = ("reported", "closed", "open", "overdue")
_SECOND = timedelta(seconds=1)


class DigestState(BaseModel):
    """What duban remembers of one digest: since when it runs, which periods were sent."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    digest: str
    since: datetime
    sent: list[str] = Field(default_factory=list)
    version: int = 0


@dataclass(frozen=True)
class MissedDuty:
    """A duty period that ended unfulfilled."""

    subject_id: str
    subject_name: str
    duty: str
    period_key: str
    period_end: datetime


def next_run(digest: Digest, after: datetime, zone: Any) -> datetime:
    """The next send moment strictly after `after` (Mondays, or the 1st, at `digest.at`)."""
    if digest.every == "week":
        return next_weekly_at(after, 0, digest.at_time(), zone)
    return next_monthly_at(after, 1, digest.at_time(), zone)


def period_reported(digest: Digest, run_at: datetime, zone: Any) -> Period:
    """The period a run at `run_at` reports on: the week or month that just ended."""
    kind: PeriodKind = "week" if digest.every == "week" else "month"
    current = period_containing(kind, run_at, zone)
    return period_containing(kind, current.start.replace(microsecond=0) - _SECOND, zone)


def due_run(state: DigestState, digest: Digest, now: datetime, zone: Any) -> datetime | None:
    """The latest send moment at or before `now` not yet sent (a missed window sends once)."""
    latest = None
    moment = next_run(digest, state.since, zone)
    while moment <= now:
        latest = moment
        moment = next_run(digest, moment, zone)
    if latest is None or period_reported(digest, latest, zone).key in state.sent:
        return None
    return latest


def digest_facts(
    digest: Digest,
    period: Period,
    hazards: Iterable[HazardState],
    missed: Iterable[MissedDuty],
    now: datetime,
    industries: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Template facts: totals, by region, by industry, longest overdue, duties missed."""
    totals = dict.fromkeys(_COUNTS, 0)
    by_region: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    by_industry: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    overdue_rows = []
    for hazard in hazards:
        if not _counted(hazard, industries):
            continue
        assert hazard.unit is not None
        for name in _categories(hazard, period, now):
            totals[name] += 1
            by_region[hazard.unit.region][name] += 1
            by_industry[hazard.unit.industry][name] += 1
        if _overdue(hazard, now):
            overdue_rows.append(_overdue_row(hazard, now))
    overdue_rows.sort(key=lambda r: (-r["days_overdue"], r["hazard_id"]))
    return {
        "period": "weekly" if digest.every == "week" else "monthly",
        "period_key": period.key,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "totals": totals,
        "by_region": [{"region": k, **v} for k, v in sorted(by_region.items())],
        "by_industry": [{"industry": k, **v} for k, v in sorted(by_industry.items())],
        "longest_overdue": overdue_rows[: digest.longest_overdue],
        "duties_missed": [
            _missed_row(m) for m in missed if period.start < m.period_end <= period.end
        ],
    }


@dataclass
class DigestRun:
    """The notices of one digest run, the period key it covers, and the next run."""

    notices: list[PlannedNotice]
    warnings: list[str]
    period_key: str | None
    next_at: datetime


def run_digest(
    digest: Digest,
    state: DigestState,
    hazards: list[HazardState],
    missed: list[MissedDuty],
    rules: Rules,
    now: datetime,
) -> DigestRun:
    """The digest due at `now` (if any) to its recipients, and optionally each department."""
    zone = rules.timing.zone
    result = DigestRun([], [], None, next_run(digest, now, zone))
    run_at = due_run(state, digest, now, zone)
    if run_at is None:
        return result
    period = period_reported(digest, run_at, zone)
    result.period_key = period.key
    office = Subject(id=digest.id)
    facts = digest_facts(digest, period, hazards, missed, now)
    _address_digest(result, digest, period, office, facts, run_at, rules, now)
    if digest.per_department:
        for dept in rules.index.directory.departments:
            subject = Subject(id=dept.id, supervising_department=dept.id)
            facts = digest_facts(digest, period, hazards, missed, now, frozenset(dept.industries))
            _address_digest(
                result, digest, period, subject, facts, run_at, rules, now, roles=("department",)
            )
    return result


def _address_digest(
    result: DigestRun,
    digest: Digest,
    period: Period,
    subject: Subject,
    facts: dict[str, Any],
    run_at: datetime,
    rules: Rules,
    now: datetime,
    roles: tuple[Role, ...] | None = None,
) -> None:
    suffix = "" if subject.id == digest.id else f":{subject.id}"
    address(
        result.notices,
        result.warnings,
        notice_id=f"digest:{digest.id}:{period.key}{suffix}",
        occurrence=0,
        kind="digest",
        action=None,
        subject=subject,
        unit=None,
        roles=roles or digest.to,
        due_at=run_at,
        now=now,
        level=None,
        rules=rules,
        facts=facts,
    )


def missed_duties(states: Iterable[DutyState], names: dict[str, str]) -> list[MissedDuty]:
    """Every missed duty period recorded in duty states."""
    return [
        MissedDuty(s.subject_id, names.get(s.subject_id, s.subject_id), s.duty, key, end)
        for s in states
        for key, end in s.missed
    ]


def _counted(hazard: HazardState, industries: frozenset[str] | None) -> bool:
    if not hazard.known or hazard.level != "major" or hazard.unit is None:
        return False
    return industries is None or hazard.unit.industry in industries


def _categories(hazard: HazardState, period: Period, now: datetime) -> list[str]:
    found = []
    if hazard.reported_at and period.start <= hazard.reported_at < period.end:
        found.append("reported")
    if (
        hazard.status == "closed"
        and hazard.closed_at
        and (period.start <= hazard.closed_at < period.end)
    ):
        found.append("closed")
    if hazard.status in OPEN_STATUSES or hazard.status == "rectified":
        found.append("open")
    if _overdue(hazard, now):
        found.append("overdue")
    return found


def _overdue(hazard: HazardState, now: datetime) -> bool:
    return (
        hazard.status in OPEN_STATUSES and hazard.deadline is not None and (hazard.deadline < now)
    )


def _overdue_row(hazard: HazardState, now: datetime) -> dict[str, Any]:
    assert hazard.unit is not None and hazard.deadline is not None
    return {
        "hazard_id": hazard.hazard_id,
        "title": hazard.title,
        "unit_name": hazard.unit.name or hazard.unit.id,
        "region": hazard.unit.region,
        "industry": hazard.unit.industry,
        "deadline": hazard.deadline.isoformat(),
        "days_overdue": (now - hazard.deadline).days,
    }


def _missed_row(missed: MissedDuty) -> dict[str, Any]:
    return {
        "subject_id": missed.subject_id,
        "subject_name": missed.subject_name,
        "duty": missed.duty,
        "period_key": missed.period_key,
    }
