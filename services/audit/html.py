"""The HTML pages (Jinja2, autoescaped): the printable evidence sheet of `duban trace
--format html`, the console's pages, and `duban simulate --html`'s timelines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.audit.planned import Day, calendar_strip
from services.audit.story import Step, Story
from services.core.workcalendar import WorkCalendar

TEMPLATES = Path(__file__).with_name("templates")
MAX_STRIP_DAYS = 62
MARKS = {"notice": "✉", "acknowledged": "✓", "planned": "◇", "failed": "✗"}
_MARK_CLASSES = {"✉": "m-notice", "✓": "m-ack", "◇": "m-planned", "✗": "m-failed"}
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Page:
    """What every page shows: the office, the zone and calendar, when it was made."""

    office: str
    zone: ZoneInfo
    calendar: WorkCalendar
    generated_at: datetime

    def helpers(self, recipients: Mapping[str, Any] | None = None) -> dict[str, Any]:
        def who(step: Step) -> str:
            found = (recipients or {}).get(step.person_id or "")
            return f"{found.name}（{found.role}）" if found else (step.person_id or "")

        return {
            "office": self.office,
            "generated_at": self.when(self.generated_at),
            "when": self.when,
            "who": who,
            "details": lambda s: "；".join(f"{k}：{v}" for k, v in s.details.items() if v),
            "mark_class": lambda m: _MARK_CLASSES.get(m, ""),
        }

    def when(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def strip(self, steps: Sequence[Step]) -> list[Day]:
        """The calendar strip under `steps`: at most MAX_STRIP_DAYS, the month before the
        last marked step (sent, acknowledged, failed) and what is planned after it."""
        if not steps:
            return []
        marks: dict[date, list[str]] = {}
        for step in steps:
            mark = mark_of(step)
            if mark:
                marks.setdefault(self.day(step), []).append(mark)
        days = sorted(self.day(step) for step in steps)
        happened = [self.day(s) for s in steps if mark_of(s) and s.kind != "planned"] or days
        first = max(days[0], max(happened) - timedelta(days=MAX_STRIP_DAYS // 2))
        last = min(days[-1], first + timedelta(days=MAX_STRIP_DAYS - 1))
        return calendar_strip(self.calendar, first, (last - first).days + 1, marks)

    def day(self, step: Step) -> date:
        return step.at.astimezone(self.zone).date()


def mark_of(step: Step) -> str:
    """The strip's mark for a step ("" for none)."""
    if step.kind == "receipt" and "失败" in step.label:
        return MARKS["failed"]
    return MARKS.get(step.kind, "")


def render(name: str, **values: Any) -> str:
    """Render one template."""
    return _ENV.get_template(name).render(**values)


def evidence_sheet(story: Story, page: Page) -> str:
    """The printable evidence sheet of one subject."""
    return render(
        "evidence.html",
        story=story,
        strip=page.strip([*story.steps, *story.planned]),
        **page.helpers(story.recipients),
    )


def subject_page(story: Story, page: Page, link: Callable[[str], str], **state: str) -> str:
    """The console's timeline of one subject."""
    values = {"state": state.get("state", ""), "deadline": state.get("deadline", "")}
    return render(
        "subject.html",
        story=story,
        strip=page.strip([*story.steps, *story.planned]),
        link=link,
        **values,
        **page.helpers(story.recipients),
    )


def simulate_page(subjects: Sequence[tuple[str, list[Step]]], page: Page, events: str) -> str:
    """`duban simulate --html`: every simulated subject's timeline."""
    items = [
        {"subject": subject, "steps": steps, "strip": page.strip(steps)}
        for subject, steps in subjects
    ]
    return _ENV.get_template("simulate.html").render(
        subjects=items, events=events, strip_of=page.strip, **page.helpers()
    )
