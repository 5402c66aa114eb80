"""`duban audit export`: every notice of a period with its outcome per recipient and
channel, for the monthly 通报 (CSV or XLSX). Mobiles and emails masked unless asked."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson

from services.audit.chain import Row
from services.audit.story import ACK_CHANNELS, KIND_LABELS, Label, no_labels
from services.masking import mask_email, mask_mobile

COLUMNS: Final = (
    ("notice_id", "通知编号"),
    ("occurrence", "第几次"),
    ("decided_at", "决定时间"),
    ("kind", "通知类型"),
    ("action", "督办措施"),
    ("subject", "事项编号"),
    ("title", "事项名称"),
    ("department", "部门"),
    ("region", "区域"),
    ("person_id", "人员编号"),
    ("name", "收件人"),
    ("role", "身份"),
    ("mobile", "手机"),
    ("email", "邮箱"),
    ("channel", "渠道"),
    ("outcome", "结果"),
    ("at", "结果时间"),
    ("provider_message_id", "服务商消息编号"),
    ("reason", "失败原因"),
    ("acknowledged_at", "确认时间"),
    ("acknowledged_by", "确认方式"),
)
# Later receipts of a delivery say more than earlier ones.
_RANK: Final = {"notice.failed": 1, "notice.delivered": 2, "notice.reached": 3, "notice.read": 4}
_OUTCOMES: Final = {
    "notice.failed": "失败",
    "notice.delivered": "已发出",
    "notice.reached": "已送达手机",
    "notice.read": "已读",
}


@dataclass(frozen=True)
class Filter:
    """Which notices to keep: a department (its id or name) and a region code."""

    departments: Collection[str] = ()
    region: str | None = None

    def keeps(self, facts: Mapping[str, Any]) -> bool:
        if self.departments and facts.get("department") not in self.departments:
            return False
        return self.region is None or facts.get("region") == self.region


def outcome_rows(
    rows: Sequence[Row],
    people: Mapping[str, Mapping[str, Any]],
    zone: ZoneInfo,
    keep: Filter = Filter(),
    label: Label = no_labels,
    unmasked: bool = False,
) -> list[dict[str, str]]:
    """One line per notice occurrence, recipient and planned channel."""
    notices, receipts, acks = _index(rows)
    lines = []
    for row, data in notices:
        if not keep.keeps(data.get("facts") or {}):
            continue
        for channel in data.get("channels") or ():
            lines.append(
                _line(row, data, str(channel.get("channel")), receipts, acks, people, zone, label)
            )
    if not unmasked:
        for line in lines:
            line["mobile"] = mask_mobile(line["mobile"]) if line["mobile"] else ""
            line["email"] = mask_email(line["email"]) if line["email"] else ""
    return lines


Receipts = dict[tuple[str, int, str, str], tuple[Row, dict[str, Any]]]


def _index(
    rows: Sequence[Row],
) -> tuple[list[tuple[Row, dict[str, Any]]], Receipts, dict[tuple[str, str], Row]]:
    """The notices; the most telling receipt of each delivery; the first acknowledgement
    of each notice and person."""
    receipts: Receipts = {}
    acks: dict[tuple[str, str], Row] = {}
    notices: list[tuple[Row, dict[str, Any]]] = []
    for row in rows:
        data = orjson.loads(row.body).get("data") or {}
        if row.type == "notice.requested":
            notices.append((row, data))
        elif row.type == "notice.acknowledged":
            acks.setdefault((row.subject, str(data.get("person_id"))), row)
        elif row.type in _RANK:
            occurrence, person = int(data.get("occurrence", 0)), str(data.get("person_id"))
            key = (row.subject, occurrence, person, str(data.get("channel")))
            held = receipts.get(key)
            if held is None or _RANK[row.type] >= _RANK[held[0].type]:
                receipts[key] = (row, data)
    return notices, receipts, acks


def _line(
    row: Row,
    data: Mapping[str, Any],
    channel: str,
    receipts: Receipts,
    acks: Mapping[tuple[str, str], Row],
    people: Mapping[str, Mapping[str, Any]],
    zone: ZoneInfo,
    label: Label,
) -> dict[str, str]:
    def when(moment: Any) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    recipient = data.get("recipient") or {}
    person_id = str(recipient.get("person_id", ""))
    person = people.get(str(recipient.get("person_version", ""))) or {}
    facts = data.get("facts") or {}
    occurrence = int(data.get("occurrence", 0))
    receipt, said = receipts.get((row.subject, occurrence, person_id, channel), (None, {}))
    ack = acks.get((row.subject, person_id))
    action = data.get("action")
    return {
        "notice_id": row.subject,
        "occurrence": str(occurrence),
        "decided_at": when(row.occurred_at),
        "kind": KIND_LABELS.get(str(data.get("kind")), str(data.get("kind"))),
        "action": label("actions", str(action)) if action else "",
        "subject": str(data.get("subject", "")),
        "title": str(facts.get("title", "")),
        "department": str(facts.get("department", "")),
        "region": label("regions", str(facts.get("region", ""))) if facts.get("region") else "",
        "person_id": person_id,
        "name": str(person.get("name") or ""),
        "role": label("roles", str(recipient.get("role", ""))),
        "mobile": str(person.get("mobile") or ""),
        "email": str(person.get("email") or ""),
        "channel": channel,
        "outcome": _OUTCOMES.get(receipt.type, receipt.type) if receipt else "未发送",
        "at": when(receipt.occurred_at) if receipt else "",
        "provider_message_id": str(said.get("provider_message_id") or ""),
        "reason": str(said.get("reason") or ""),
        "acknowledged_at": when(ack.occurred_at) if ack else "",
        "acknowledged_by": ACK_CHANNELS.get(ack.source, ack.source) if ack else "",
    }


def as_csv(lines: Sequence[Mapping[str, str]]) -> str:
    """CSV with a Chinese header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title in COLUMNS])
    for line in lines:
        writer.writerow([line[key] for key, _ in COLUMNS])
    return out.getvalue()


def as_xlsx(lines: Sequence[Mapping[str, str]], sheet: str = "通知送达情况") -> bytes:
    """An XLSX workbook: one sheet, a bold header row, one row per line."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # slow: only when asked
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    ws.append([title for _, title in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for line in lines:
        ws.append([line[key] for key, _ in COLUMNS])
    for column in ws.columns:
        width = max(len(str(c.value or "")) for c in column)
        ws.column_dimensions[column[0].column_letter].width = min(50, width * 1.6 + 2)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
