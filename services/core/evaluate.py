"""The decision for one hazard at one moment: which notices go out now, and when to look again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.core.directory import DirectoryIndex
from services.core.duties import DutiesFile
from services.core.policy import Action, NoticeKind, Role
from services.core.recipients import Recipient, Subject, department_of, resolve, subject_of
from services.core.routing import PlannedChannel, Routing, channel_order, exempt, family_of
from services.core.routing import quiet_until as quiet_end
from services.core.state import HazardState, UnitInfo
from services.core.timeline import Occurrence, Timing, occurrences


@dataclass(frozen=True)
class Rules:
    """Everything the core decides with, compiled once from the config folder."""

    timing: Timing
    index: DirectoryIndex
    routing: Routing
    channel_types: dict[str, str]  # configured channel name → channel type
    duties: DutiesFile = field(default_factory=DutiesFile)


@dataclass(frozen=True)
class PlannedNotice:
    """One notice to one recipient, with the channels to try and the template facts."""

    notice_id: str
    occurrence: int
    kind: NoticeKind
    action: Action | None
    subject: str
    due_at: datetime
    at: datetime
    recipient: Recipient
    channels: tuple[PlannedChannel, ...]
    facts: dict[str, Any]


@dataclass
class Evaluation:
    """Notices to send now, occurrences now decided, the next moment to look, ops warnings."""

    notices: list[PlannedNotice] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    next_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def evaluate(state: HazardState, unit: UnitInfo | None, rules: Rules, now: datetime) -> Evaluation:
    """Decide what is due for `state` at `now`; pure."""
    result = Evaluation()
    if not state.known:
        return result
    sent = set(state.sent)
    due: list[Occurrence] = []
    for occ in occurrences(state, rules.timing, now):
        if occ.sent_key in sent:
            continue
        if occ.due_at <= now:
            due.append(occ)
        elif result.next_at is None or occ.due_at < result.next_at:
            result.next_at = occ.due_at
    result.decided = [occ.sent_key for occ in due]
    for occ in _latest_only(due):
        _add_notices(result, occ, state, unit, rules, now)
    return result


def mark_decided(state: HazardState, evaluation: Evaluation) -> HazardState:
    """The state with this evaluation's occurrences recorded, so they are never sent twice."""
    if not evaluation.decided:
        return state
    return state.model_copy(update={"sent": [*state.sent, *evaluation.decided]})


def acknowledge(state: HazardState, notice_id: str, person_id: str) -> HazardState:
    """Record that a person acknowledged a notice; stops that notice's repeats for them."""
    people = state.acks.get(notice_id, [])
    if person_id in people:
        return state
    return state.model_copy(update={"acks": {**state.acks, notice_id: [*people, person_id]}})


def _latest_only(due: list[Occurrence]) -> list[Occurrence]:
    """After a gap (downtime), send only the newest period/repeat of each step, not a burst."""
    latest: dict[tuple[str, str], Occurrence] = {}
    for occ in due:
        key = (occ.rule.id, occ.step.name)
        if key not in latest or occ.due_at >= latest[key].due_at:
            latest[key] = occ
    return sorted(latest.values(), key=lambda o: o.due_at)


def _add_notices(
    result: Evaluation,
    occ: Occurrence,
    state: HazardState,
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
) -> None:
    roles = list(occ.step.to)
    if state.listed_by and occ.rule.add_authority_when_listed and occ.rule.kind == "escalation":
        roles.append("authority")
    notice_id = occ.notice_id(state.hazard_id)
    # A repeat goes only to those who have not acknowledged the notice.
    acked = frozenset(state.acks.get(notice_id, ())) if occ.repeat else frozenset()
    address(
        result.notices,
        result.warnings,
        notice_id=notice_id,
        occurrence=occ.repeat,
        kind=occ.rule.kind,
        action=occ.step.action,
        subject=subject_of(state),
        unit=unit,
        roles=roles,
        due_at=occ.due_at,
        now=now,
        level=state.level,
        rules=rules,
        facts=hazard_facts(state, unit, rules, max(occ.due_at, now)),
        skip=acked,
    )


def address(
    notices: list[PlannedNotice],
    warnings: list[str],
    *,
    notice_id: str,
    occurrence: int,
    kind: NoticeKind,
    action: Action | None,
    subject: Subject,
    unit: UnitInfo | None,
    roles: Sequence[Role],
    due_at: datetime,
    now: datetime,
    level: str | None,
    rules: Rules,
    facts: dict[str, Any],
    skip: frozenset[str] = frozenset(),
) -> None:
    """Resolve `roles` to people and append one planned notice per reachable person."""
    resolution = resolve(roles, subject, unit, rules.index)
    warnings += resolution.warnings
    at = max(due_at, now)
    for recipient in resolution.recipients:
        if recipient.person.id in skip:
            continue
        channels = plan_channels(recipient, kind, level, at, rules)
        if not channels:
            warnings.append(
                f"notice {notice_id}: person '{recipient.person.id}' has no usable channel"
            )
            continue
        personal = {
            "recipient_name": recipient.person.name or recipient.person.id,
            "recipient_role": recipient.role,
            "occurrence": occurrence,
        }
        notices.append(
            PlannedNotice(
                notice_id=notice_id,
                occurrence=occurrence,
                kind=kind,
                action=action,
                subject=subject.id,
                due_at=due_at,
                at=at,
                recipient=recipient,
                channels=channels,
                facts={**facts, **personal},
            )
        )


def plan_channels(
    recipient: Recipient, kind: NoticeKind, level: str | None, at: datetime, rules: Rules
) -> tuple[PlannedChannel, ...]:
    """The recipient's channels in order, each deferred out of its quiet hours if need be."""
    names = channel_order(recipient.person, recipient.role, rules.routing, rules.channel_types)
    quiet = rules.timing.policy.quiet_hours
    planned = []
    for name in names:
        window = quiet.get(family_of(rules.channel_types[name]))
        later = None
        if window is not None and not exempt(window, kind, level):
            later = quiet_end(window, at, rules.timing.zone)
        planned.append(PlannedChannel(name, later))
    return tuple(planned)


def hazard_facts(
    state: HazardState, unit: UnitInfo | None, rules: Rules, at: datetime
) -> dict[str, Any]:
    """Template variables describing the hazard at `at` (JSON values only)."""
    department = department_of(subject_of(state), rules.index)
    ref = state.unit
    zone = rules.timing.zone
    days = None
    if state.deadline is not None:
        days = (at.astimezone(zone).date() - state.deadline.astimezone(zone).date()).days
    return {
        "hazard_id": state.hazard_id,
        "title": state.title,
        "level": state.level,
        "unit_id": ref.id if ref else None,
        "unit_name": (unit.name if unit and unit.name else None) or (ref.name if ref else None),
        "industry": ref.industry if ref else None,
        "region": ref.region if ref else None,
        "deadline": state.deadline.isoformat() if state.deadline else None,
        "department": department.name if department else "安委办",
        "authority": state.listed_by,
        "days_left": -days if days is not None and days <= 0 else None,
        "days_overdue": days if days is not None and days > 0 else None,
        "status": state.status,
        "percent": state.percent,
    }
