"""A subject's story from its trail rows, pure: what `duban trace` and the console show.

Each row becomes a `Step` with a Chinese label; notices, receipts and acknowledgements
are also grouped by recipient (the evidence sheet's table per recipient).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from services.audit.chain import Row
from services.masking import mask_email, mask_mobile

KIND_LABELS: Final = {
    "report": "上报通知",
    "reminder": "提醒",
    "escalation": "督办",
    "verification": "验收提醒",
    "supervision": "挂牌督办通知",
    "closure": "销号通知",
    "duty": "履职提醒",
    "digest": "汇总",
}
EVENT_LABELS: Final = {
    "hazard.reported": "隐患上报",
    "hazard.updated": "隐患信息变更",
    "hazard.progress": "整改进度",
    "hazard.rectified": "整改完成，待验收",
    "hazard.closed": "验收销号",
    "hazard.reopened": "重新整改",
    "hazard.cancelled": "隐患撤销",
    "hazard.supervision_listed": "挂牌督办",
    "unit.upserted": "单位信息更新",
    "person.upserted": "人员信息更新",
    "duty.fulfilled": "履职完成",
}
RECEIPT_LABELS: Final = {
    "notice.delivered": "已发出（渠道已接收）",
    "notice.reached": "已送达手机",
    "notice.read": "已读",
    "notice.failed": "发送失败",
}
ACK_CHANNELS: Final = {"urn:duban:ack": "确认链接"}
Label = Callable[[str, str], str]  # (table, code) -> Chinese label


@dataclass(frozen=True)
class Step:
    """One thing that happened (or is planned), ready to show."""

    at: datetime
    kind: str  # received, dead_letter, notice, receipt, acknowledged, planned
    label: str
    notice_id: str | None = None
    person_id: str | None = None
    channel: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "label": self.label,
            "notice_id": self.notice_id,
            "person_id": self.person_id,
            "channel": self.channel,
            "details": self.details,
        }


@dataclass
class Recipient:
    """What one recipient was sent and how it went."""

    person_id: str
    name: str = ""
    role: str = ""
    mobile: str = ""
    email: str = ""
    steps: list[Step] = field(default_factory=list)


@dataclass
class Story:
    """Everything the trail knows about one subject, in time order."""

    subject: str
    steps: list[Step] = field(default_factory=list)
    recipients: dict[str, Recipient] = field(default_factory=dict)
    planned: list[Step] = field(default_factory=list)
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "title": self.title,
            "steps": [s.as_dict() for s in self.steps],
            "planned": [s.as_dict() for s in self.planned],
        }


def no_labels(table: str, code: str) -> str:
    return code


def build_story(
    subject: str,
    rows: Sequence[Row],
    people: Mapping[str, Mapping[str, Any]],
    label: Label = no_labels,
    unmasked: bool = False,
) -> Story:
    """The story of `subject` from its rows (time order) and the person versions they name."""
    story = Story(subject)
    for row in rows:
        body = orjson.loads(row.body)
        step = _step(row, body, label)
        story.steps.append(step)
        if row.type == "hazard.reported":
            story.title = str(body.get("data", {}).get("title", ""))
        if row.type == "notice.requested":
            _add_recipient(story, body.get("data", {}), people, label, unmasked)
        if step.person_id and step.person_id in story.recipients:
            story.recipients[step.person_id].steps.append(step)
    return story


def _add_recipient(
    story: Story,
    data: Mapping[str, Any],
    people: Mapping[str, Mapping[str, Any]],
    label: Label,
    unmasked: bool,
) -> None:
    recipient = data.get("recipient") or {}
    person_id = str(recipient.get("person_id", ""))
    if not person_id or person_id in story.recipients:
        return
    details = people.get(str(recipient.get("person_version", ""))) or {}
    mobile, email = details.get("mobile") or "", details.get("email") or ""
    story.recipients[person_id] = Recipient(
        person_id,
        name=details.get("name") or person_id,
        role=label("roles", str(recipient.get("role", ""))),
        mobile=mobile if unmasked else mask_mobile(mobile) if mobile else "",
        email=email if unmasked else mask_email(email) if email else "",
    )


def _step(row: Row, body: Mapping[str, Any], label: Label) -> Step:
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    assert isinstance(data, dict)
    if row.record_class == "dead_letter":
        return Step(
            row.occurred_at,
            "dead_letter",
            "被拒收，进入死信队列",
            details={"原因": str(body.get("reason", "")), "来源": row.origin},
        )
    if row.type == "notice.requested":
        return _notice(row, data, label)
    if row.type == "notice.acknowledged":
        way = ACK_CHANNELS.get(row.source, row.source)
        return Step(
            row.occurred_at,
            "acknowledged",
            f"已确认收到（{way}）",
            notice_id=row.subject,
            person_id=str(data.get("person_id", "")),
            channel=way,
        )
    if row.record_class == "receipt":
        return _receipt(row, data)
    what = EVENT_LABELS.get(row.type, row.type)
    return Step(row.occurred_at, "received", f"收到事件：{what}", details={"事件": row.event_id})


def _notice(row: Row, data: Mapping[str, Any], label: Label) -> Step:
    kind = str(data.get("kind", ""))
    action = data.get("action")
    what = KIND_LABELS.get(kind, kind) + (f"（{label('actions', str(action))}）" if action else "")
    recipient = data.get("recipient") or {}
    channels = "、".join(str(c.get("channel")) for c in data.get("channels") or ())
    occurrence = int(data.get("occurrence", 0))
    details = {
        "类型": KIND_LABELS.get(kind, kind),
        "措施": label("actions", str(action)) if action else "",
        "步骤": step_of(row.subject),
        "第几次": "首次" if occurrence == 0 else f"第 {occurrence} 次重发",
        "渠道": channels,
    }
    return Step(
        row.occurred_at,
        "notice",
        f"决定发送{what}",
        notice_id=row.subject,
        person_id=str(recipient.get("person_id", "")),
        details=details,
    )


def _receipt(row: Row, data: Mapping[str, Any]) -> Step:
    details = {"尝试次数": str(data.get("attempts", ""))}
    if data.get("provider_message_id"):
        details["服务商消息编号"] = str(data["provider_message_id"])
    if row.type == "notice.failed":
        details["失败原因"] = str(data.get("reason", ""))
        details["是否最终"] = "是" if data.get("final") else "否，将重试或换渠道"
    return Step(
        row.occurred_at,
        "receipt",
        RECEIPT_LABELS.get(row.type, row.type),
        notice_id=row.subject,
        person_id=str(data.get("person_id", "")),
        channel=str(data.get("channel", "")),
        details=details,
    )


def step_of(notice_id: str) -> str:
    """The policy rule and step a hazard notice id names ("rule/step"), else the id."""
    scope, _, rest = notice_id.partition(":")
    parts = rest.rsplit(":", 3)
    if scope == "hazard" and len(parts) == 4:
        return f"{parts[1]}/{parts[2]}"
    return notice_id
