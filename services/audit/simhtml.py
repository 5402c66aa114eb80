"""`duban simulate --html FILE`: the console's timeline picture for every simulated
subject, so ops see what a policy change does before deploying it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from services.audit.html import Page, simulate_page
from services.audit.naming import Naming, naming
from services.audit.story import KIND_LABELS, Step, step_of
from services.clock import SystemClock
from services.core.evaluate import PlannedNotice


def simulated_steps(
    notices: Sequence[PlannedNotice], names: Naming
) -> list[tuple[str, list[Step]]]:
    """Each subject (in order of its first notice) with its notices as timeline steps."""
    subjects: dict[str, list[Step]] = {}
    for notice in notices:
        kind = KIND_LABELS.get(notice.kind, notice.kind)
        action = f"（{names.label('actions', notice.action)}）" if notice.action else ""
        repeat = "" if notice.occurrence == 0 else f"，第 {notice.occurrence} 次重发"
        person = notice.recipient.person
        first = notice.channels[0]
        role = names.label("roles", notice.recipient.role)
        subjects.setdefault(notice.subject, []).append(
            Step(
                first.not_before or notice.at,
                "notice",
                f"发送{kind}{action}{repeat}",
                notice_id=notice.notice_id,
                person_id=person.id,
                channel=first.channel,
                details={
                    "收件人": f"{person.name or person.id}（{role}）",
                    "步骤": step_of(notice.notice_id),
                    "渠道": "、".join(c.channel for c in notice.channels),
                },
            )
        )
    return list(subjects.items())


def write_simulation(
    path: Path,
    notices: Sequence[PlannedNotice],
    config: Path,
    events: str,
    now: datetime | None = None,
) -> None:
    """Write the simulation's timelines as one HTML page."""
    names = naming(config)
    timing = names.rules.timing
    page = Page(names.office, timing.zone, timing.calendar, now or SystemClock().now())
    path.write_text(simulate_page(simulated_steps(notices, names), page, events), encoding="utf-8")
