"""The acknowledgement pages (services/ack/pages/*.html.j2): Chinese, readable on a phone,
rendered by Jinja2 with autoescaping. What a page says of the notice comes from the link's
token (services.acktoken.AckDetails) and the names of labels.yaml."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.acktoken import AckClaim, AckDetails
from services.config.load import load_labels
from services.config.positions import ConfigError

log = logging.getLogger("duban.ack")
PAGES = Path(__file__).with_name("pages")
ZONE = ZoneInfo("Asia/Shanghai")
SCOPE = "确认后仅停止本通知的重复提醒，整改期限不变。"

# What each kind of notice is called (deploy/config/example/templates/README.md's table).
KIND_NAMES = {
    "report": "隐患告知",
    "reminder": "整改到期提醒",
    "escalation": "逾期督办",
    "verification": "验收销号提醒",
    "supervision": "挂牌督办进展督办",
    "closure": "销号确认",
    "duty": "履职提醒",
    "digest": "统计报告",
}
# Used where labels.yaml has no entry.
DEFAULT_LABELS: dict[str, dict[str, str]] = {
    "actions": {"letter": "函告", "circular": "通报", "interview": "约谈", "exposure": "曝光"},
    "levels": {"major": "重大事故隐患", "general": "一般隐患"},
    "duties": {},
}


@dataclass(frozen=True)
class NoticeView:
    """The notice as the page shows it."""

    notice_id: str
    step: str
    level: str | None
    title: str | None
    title_label: str
    unit: str | None
    deadline: str | None
    deadline_label: str


def page_labels(folder: Path) -> dict[str, dict[str, str]]:
    """labels.yaml's actions, levels and duties over the defaults; the defaults alone (and
    a warning) when the folder has no readable labels."""
    tables = {name: dict(table) for name, table in DEFAULT_LABELS.items()}
    try:
        labels, _ = load_labels(folder)
    except (ConfigError, OSError) as e:
        log.warning("ack pages: labels of %s not read (%s); codes are shown", folder, e)
        return tables
    for name in tables:
        tables[name].update(getattr(labels, name))
    return tables


class Pages:
    """Renders the pages; one instance per app (the templates are compiled once)."""

    def __init__(self, labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.labels = {**DEFAULT_LABELS, **(labels or {})}
        self.env = Environment(
            loader=FileSystemLoader(PAGES),
            autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def confirm(
        self, claim: AckClaim, token: str, taken_at: datetime | None, heading: str | None = None
    ) -> str:
        """GET /ack: the notice, and the button (or when it was confirmed already)."""
        return self.env.get_template("confirm.html.j2").render(
            heading=heading or ("请确认收到督办通知" if taken_at is None else "已确认收到"),
            notice=self.notice(claim),
            token=token,
            taken_at=_when(taken_at) if taken_at else None,
            scope=SCOPE,
        )

    def result(
        self,
        heading: str,
        message: str,
        *,
        tone: str = "",
        claim: AckClaim | None = None,
        token: str | None = None,
        scope: bool = False,
    ) -> str:
        """A result or refusal: heading, message, the notice when known, the button again
        when `token` is given."""
        return self.env.get_template("result.html.j2").render(
            heading=heading,
            message=message,
            tone=tone,
            notice=self.notice(claim) if claim is not None else None,
            token=token,
            scope=SCOPE if scope else None,
        )

    def notice(self, claim: AckClaim) -> NoticeView:
        """What the page says of the notice a token names."""
        d = claim.details
        duty = d.kind == "duty"
        return NoticeView(
            notice_id=claim.notice_id,
            step=self._step(d),
            level=self._label("levels", d.level),
            title=self._label("duties", d.title) if duty else d.title,
            title_label="履职事项" if duty else "隐患",
            unit=d.unit,
            deadline=_cn_date(d.deadline),
            deadline_label="本期截止" if duty else "整改期限",
        )

    def _step(self, d: AckDetails) -> str:
        if d.kind is None:
            return "督办通知"
        action = self._label("actions", d.action)
        if d.kind == "duty":
            return f"履职{action}" if action else KIND_NAMES["duty"]
        if d.kind == "escalation" and action:
            return f"{KIND_NAMES['escalation']}（{action}）"
        return KIND_NAMES.get(d.kind, d.kind)

    def _label(self, table: str, code: str | None) -> str | None:
        return None if code is None else self.labels.get(table, {}).get(code, code)


def _cn_date(text: str | None) -> str | None:
    """2026-12-01 → 2026年12月1日; anything else as it is."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return text
    return f"{day.year}年{day.month}月{day.day}日"


def _when(at: datetime) -> str:
    local = at.astimezone(ZONE)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
