"""Weekly and monthly digests (周上报、月调度): hazard statistics counted from state, the
discovery channels and the department ranking (晾晒) for the committee office; each
department's own digest holds its own hazards, duties, rank and tasks only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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
from services.core.ranking import (
    by_found_by,
    closed_in,
    department_ranking,
    hazards_by_department,
    is_overdue,
    is_unclosed,
    reported_in,
)
from services.core.recipients import Subject
from services.core.state import HazardState

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
    industry: str | None = None  # a unit's industry; None for a department's own duty


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


@dataclass(frozen=True)
class OwnerTasks:
    """Hook for supervised tasks (督办事项): open and overdue tasks of one owner, counted by
    whoever keeps task state and passed to `run_digest`; shown as `tasks_by_owner`."""

    owner_kind: str  # department | unit | person
    owner_id: str
    owner_name: str
    open: int
    overdue: int


def digest_facts(
    digest: Digest,
    period: Period,
    hazards: Iterable[HazardState],
    missed: Iterable[MissedDuty],
    now: datetime,
    ranking: Sequence[dict[str, Any]] = (),
    tasks: Sequence[OwnerTasks] = (),
) -> dict[str, Any]:
    """Template facts over the hazards and missed duties given (the caller scopes them):
    major and general totals, majors by region and industry, longest overdue majors,
    every level by discovery channel, the department ranking, duties missed, tasks."""
    counted = [h for h in hazards if h.known and h.unit is not None]
    totals = {level: dict.fromkeys(_COUNTS, 0) for level in ("major", "general")}
    by_region: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    by_industry: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    overdue_rows = []
    for hazard in counted:
        assert hazard.unit is not None
        names = _categories(hazard, period, now)
        for name in names:
            totals[hazard.level][name] += 1
        if hazard.level != "major":
            continue
        for name in names:
            by_region[hazard.unit.region][name] += 1
            by_industry[hazard.unit.industry][name] += 1
        if is_overdue(hazard, now):
            overdue_rows.append(_overdue_row(hazard, now))
    overdue_rows.sort(key=lambda r: (-r["days_overdue"], r["hazard_id"]))
    return {
        "period": "weekly" if digest.every == "week" else "monthly",
        "period_key": period.key,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "totals": totals["major"],
        "general_totals": totals["general"],
        "by_region": [{"region": k, **v} for k, v in sorted(by_region.items())],
        "by_industry": [{"industry": k, **v} for k, v in sorted(by_industry.items())],
        "by_found_by": by_found_by(counted, period),
        "department_ranking": list(ranking),
        "longest_overdue": overdue_rows[: digest.longest_overdue],
        "duties_missed": [
            _missed_row(m) for m in missed if period.start < m.period_end <= period.end
        ],
        "tasks_by_owner": [vars(t) for t in tasks],
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
    tasks: Sequence[OwnerTasks] = (),
) -> DigestRun:
    """The digest due at `now` (if any) to its recipients, and optionally each department
    (its own hazards, duties, rank and tasks only)."""
    zone = rules.timing.zone
    result = DigestRun([], [], None, next_run(digest, now, zone))
    run_at = due_run(state, digest, now, zone)
    if run_at is None:
        return result
    period = period_reported(digest, run_at, zone)
    result.period_key = period.key
    index = rules.index
    ranking = department_ranking(hazards, period, now, index)
    facts = digest_facts(digest, period, hazards, missed, now, ranking, tasks)
    _address_digest(result, digest, period, Subject(id=digest.id), facts, run_at, rules, now)
    if not digest.per_department:
        return result
    own = hazards_by_department(hazards, index)
    for dept in index.directory.departments:
        facts = digest_facts(
            digest,
            period,
            own.get(dept.id, []),
            [m for m in missed if m.subject_id == dept.id or m.industry in dept.industries],
            now,
            [row for row in ranking if row["department"] == dept.id],
            [t for t in tasks if t.owner_kind == "department" and t.owner_id == dept.id],
        )
        subject = Subject(id=dept.id, supervising_department=dept.id)
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


def missed_duties(
    states: Iterable[DutyState],
    names: Mapping[str, str],
    industries: Mapping[str, str | None] | None = None,
) -> list[MissedDuty]:
    """Every missed duty period recorded in duty states; `names` and `industries` are by
    unit id (a department's own duties have neither)."""
    industry = industries or {}
    return [
        MissedDuty(
            s.subject_id,
            names.get(s.subject_id, s.subject_id),
            s.duty,
            key,
            end,
            industry.get(s.subject_id),
        )
        for s in states
        for key, end in s.missed
    ]


def _categories(hazard: HazardState, period: Period, now: datetime) -> list[str]:
    found = []
    if reported_in(hazard, period):
        found.append("reported")
    if closed_in(hazard, period):
        found.append("closed")
    if is_unclosed(hazard):
        found.append("open")
    if is_overdue(hazard, now):
        found.append("overdue")
    return found


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
