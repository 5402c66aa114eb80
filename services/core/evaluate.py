"""The decision for one hazard at one moment: which notices go out now, and when to look again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from services.core.catchup import catch_up, first_sendings, sent_for_an_earlier_anchor
from services.core.directory import DirectoryIndex, Person
from services.core.duties import DutiesFile
from services.core.facts import change_facts, hazard_facts, task_facts
from services.core.policy import Action, NoticeKind, Role
from services.core.recipients import Recipient, Subject, resolve, subject_of
from services.core.routing import PlannedChannel, Routing, channel_order, exempt, family_of
from services.core.routing import quiet_until as quiet_end
from services.core.state import HazardState, UnitInfo
from services.core.timeline import Occurrence, Timing, occurrences

# Kinds that tell what changed, with the old deadline, the reason and what is missing.
CHANGE_KINDS = frozenset({"reopened", "deadline_changed", "incomplete"})
# Kinds the listing authority receives while the hazard is listed (the closure is 摘牌).
AUTHORITY_KINDS = frozenset({"escalation", "closure"})
# The recipient role of a group robot's post.
GROUP_ROLE = "group"


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


# The recipient of a notice being drafted, replaced before it is planned.
_NOBODY = Recipient(Person(id="nobody"), "nobody")


@dataclass
class Evaluation:
    """Notices to send now, occurrences now decided, the next moment to look, ops warnings."""

    notices: list[PlannedNotice] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    next_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def evaluate(state: HazardState, unit: UnitInfo | None, rules: Rules, now: datetime) -> Evaluation:
    """Decide what is due for `state` (a hazard, or a task) at `now`; pure."""
    result = Evaluation()
    if not state.known:
        return result
    sent = set(state.sent)
    firsts = first_sendings(state.sent)
    due: list[Occurrence] = []
    ahead: list[tuple[datetime, str]] = []
    for occ in occurrences(state, rules.timing, now):
        if occ.sent_key in sent or sent_for_an_earlier_anchor(occ, firsts):
            continue
        if occ.due_at <= now:
            due.append(occ)
            continue
        if occ.repeat == 0 and occ.step.action and occ.rule.kind == "escalation":
            ahead.append((occ.due_at, occ.step.action))
        if result.next_at is None or occ.due_at < result.next_at:
            result.next_at = occ.due_at
    result.decided = [occ.sent_key for occ in due]
    next_steps = list(dict.fromkeys(action for _, action in sorted(ahead)))
    for occ in catch_up(due, now):
        _add_notices(result, occ, state, unit, rules, now, next_steps)
    return result


def mark_decided(state: HazardState, evaluation: Evaluation) -> HazardState:
    """The state with this evaluation's occurrences recorded, so they are never sent twice."""
    if not evaluation.decided:
        return state
    roles = [n.recipient.role for n in evaluation.notices if n.recipient.role != GROUP_ROLE]
    notified = list(dict.fromkeys([*state.notified_roles, *roles]))
    return state.model_copy(
        update={"sent": [*state.sent, *evaluation.decided], "notified_roles": notified}
    )


def acknowledge(state: HazardState, notice_id: str, person_id: str) -> HazardState:
    """Record that a person acknowledged a notice; stops that notice's repeats for them."""
    people = state.acks.get(notice_id, [])
    if person_id in people:
        return state
    return state.model_copy(update={"acks": {**state.acks, notice_id: [*people, person_id]}})


def _add_notices(
    result: Evaluation,
    occ: Occurrence,
    state: HazardState,
    unit: UnitInfo | None,
    rules: Rules,
    now: datetime,
    next_steps: list[str],
) -> None:
    roles = _roles(occ, state)
    notice_id = occ.notice_id(state.hazard_id, state.kind)
    # A repeat goes only to those who have not acknowledged the notice.
    acked = frozenset(state.acks.get(notice_id, ())) if occ.repeat else frozenset()
    describe = task_facts if state.kind == "task" else hazard_facts
    facts = describe(state, unit, rules, max(occ.due_at, now), next_steps)
    address(
        result.notices,
        result.warnings,
        notice_id=notice_id,
        occurrence=occ.repeat,
        kind=occ.rule.kind,
        action=occ.step.action,
        subject=subject_of(state, unit),
        unit=unit,
        roles=roles,
        due_at=occ.due_at,
        now=now,
        level=state.level if state.kind == "hazard" else None,
        rules=rules,
        facts={**facts, **change_facts(state)} if occ.rule.kind in CHANGE_KINDS else facts,
        skip=acked,
    )


def _roles(occ: Occurrence, state: HazardState) -> list[Role]:
    """The step's roles: `notified` stands for every role told about the hazard so far, and
    the listing authority joins escalations and the closure (摘牌) while listed."""
    roles: list[Role] = []
    for role in occ.step.to:
        extra = state.notified_roles if role == "notified" else [role]
        roles += [cast(Role, r) for r in extra if r != "notified"]
    rule = occ.rule
    if state.listed_by and rule.add_authority_when_listed and rule.kind in AUTHORITY_KINDS:
        roles.append("authority")
    return list(dict.fromkeys(roles))


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
    """Resolve `roles` to people and append one planned notice per reachable person, and
    for a first sending one post per group robot (routing.groups) mentioning them all."""
    resolution = resolve(roles, subject, unit, rules.index)
    warnings += resolution.warnings
    at = max(due_at, now)
    draft = PlannedNotice(
        notice_id, occurrence, kind, action, subject.id, due_at, at, _NOBODY, (), facts
    )
    for recipient in resolution.recipients:
        if recipient.person.id in skip:
            continue
        channels = plan_channels(recipient, kind, level, at, rules)
        if not channels:
            warnings.append(
                f"notice {notice_id}: person '{recipient.person.id}' has no usable channel"
            )
            continue
        notices.append(_for(draft, recipient, channels))
    if occurrence == 0 and resolution.recipients:
        notices += group_posts(draft, resolution.recipients, level, rules)


def _for(
    draft: PlannedNotice, recipient: Recipient, channels: tuple[PlannedChannel, ...]
) -> PlannedNotice:
    personal = {
        "recipient_name": recipient.person.name or recipient.person.id,
        "recipient_role": recipient.role,
        "occurrence": draft.occurrence,
    }
    facts = {**draft.facts, **personal}
    return replace(draft, recipient=recipient, channels=channels, facts=facts)


def group_posts(
    draft: PlannedNotice, recipients: Sequence[Recipient], level: str | None, rules: Rules
) -> list[PlannedNotice]:
    """One post per group robot whose roles the notice goes to, mentioning those recipients;
    it carries no personal acknowledgement link (the notifier sees role `group`)."""
    posts = []
    for channel, roles in rules.routing.groups.items():
        mentions = [_mention(r) for r in recipients if r.role in roles]
        if channel not in rules.channel_types or not mentions:
            continue  # switched off (its variables are unset), or nobody of the group's
        group = Recipient(Person(id=f"group-{channel}", name=channel), GROUP_ROLE)
        planned = _quiet(channel, draft.kind, level, draft.at, rules)
        post = _for(draft, group, (planned,))
        posts.append(replace(post, facts={**post.facts, "mentions": mentions}))
    return posts


def _mention(recipient: Recipient) -> dict[str, str | None]:
    person = recipient.person
    return {
        "person_id": person.id,
        "name": person.name,
        "role": recipient.role,
        "mobile": person.mobile,
        "wecom_userid": person.wecom_userid,
        "dingtalk_userid": person.dingtalk_userid,
        "feishu_open_id": person.feishu_open_id,
    }


def plan_channels(
    recipient: Recipient, kind: NoticeKind, level: str | None, at: datetime, rules: Rules
) -> tuple[PlannedChannel, ...]:
    """The recipient's channels in order, each deferred out of its quiet hours if need be."""
    names = channel_order(recipient.person, recipient.role, rules.routing, rules.channel_types)
    return tuple(_quiet(name, kind, level, at, rules) for name in names)


def _quiet(
    name: str, kind: NoticeKind, level: str | None, at: datetime, rules: Rules
) -> PlannedChannel:
    """The channel, deferred out of its family's quiet hours if need be."""
    window = rules.timing.policy.quiet_hours.get(family_of(rules.channel_types[name]))
    later = None
    if window is not None and not exempt(window, kind, level):
        later = quiet_end(window, at, rules.timing.zone)
    return PlannedChannel(name, later)
