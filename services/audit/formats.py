"""`duban trace` as text, JSON or CSV (the HTML evidence sheet is in services.audit.html)."""

from __future__ import annotations

import csv
import io
import json
from zoneinfo import ZoneInfo

from services.audit.story import Step, Story

CSV_COLUMNS = ("时间", "类别", "说明", "通知编号", "收件人", "渠道", "详情")
KIND_WORDS = {
    "received": "收到事件",
    "dead_letter": "死信",
    "notice": "通知决定",
    "receipt": "发送回执",
    "acknowledged": "确认",
    "planned": "计划",
}


def _when(step: Step, zone: ZoneInfo) -> str:
    return step.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _details(step: Step) -> str:
    return "；".join(f"{k}：{v}" for k, v in step.details.items() if v)


def _who(story: Story, step: Step) -> str:
    if not step.person_id:
        return ""
    recipient = story.recipients.get(step.person_id)
    return f"{recipient.name}（{recipient.role}）" if recipient else step.person_id


def as_text(story: Story, zone: ZoneInfo) -> str:
    """One line per step, then the plan."""
    lines = [f"督办记录：{story.subject}" + (f" {story.title}" if story.title else "")]
    if not story.steps:
        lines.append("（审计记录中没有这个编号）")
    for step in story.steps:
        parts = [_when(step, zone), step.label]
        who = _who(story, step)
        if who:
            parts.append(f"收件人 {who}")
        if step.channel:
            parts.append(f"渠道 {step.channel}")
        if step.details:
            parts.append(_details(step))
        lines.append("  ".join(parts))
    if story.planned:
        lines.append("下一步计划：")
        lines += [f"{_when(s, zone)}  {s.label}  {_details(s)}" for s in story.planned]
    return "\n".join(lines) + "\n"


def as_json(story: Story) -> str:
    """The story as one JSON document."""
    return json.dumps(story.as_dict(), ensure_ascii=False, indent=2) + "\n"


def as_csv(story: Story, zone: ZoneInfo) -> str:
    """One CSV row per step (planned ones last), with a header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for step in [*story.steps, *story.planned]:
        writer.writerow(
            [
                _when(step, zone),
                KIND_WORDS.get(step.kind, step.kind),
                step.label,
                step.notice_id or "",
                _who(story, step),
                step.channel or "",
                _details(step),
            ]
        )
    return out.getvalue()
