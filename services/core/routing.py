"""Which channels a person is tried on, in order, and when quiet hours let each one send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from services.core.directory import Person
from services.core.policy import NoticeKind, QuietHours, Role, Strict

ChannelType = Literal[
    "email",
    "wecom",
    "dingtalk",
    "feishu",
    "wecom_app",
    "dingtalk_work",
    "feishu_app",
    "aliyun_sms",
    "tencent_sms",
    "sms_gateway",
    "webhook",
]
GROUP_ROBOT_TYPES = frozenset({"wecom", "dingtalk", "feishu"})
SMS_TYPES = frozenset({"aliyun_sms", "tencent_sms", "sms_gateway"})
# Personal work-chat apps, and the person's id each one sends to.
APP_ID_FIELDS = {
    "wecom_app": "wecom_userid",
    "dingtalk_work": "dingtalk_userid",
    "feishu_app": "feishu_open_id",
}


def family_of(channel_type: str) -> str:
    """The family quiet hours and templates are set by: email, sms, chat or webhook."""
    if channel_type in SMS_TYPES:
        return "sms"
    if channel_type in {"wecom", "dingtalk", "feishu", *APP_ID_FIELDS}:
        return "chat"
    return channel_type


class Routing(Strict):
    """Channel order: per person (directory), else per role, else the default."""

    default: tuple[str, ...] = Field(min_length=1, description="Channel names, tried in order.")
    roles: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Role → channel order, overriding the default."
    )
    groups: dict[str, tuple[Role, ...]] = Field(
        default_factory=dict,
        description="Group robot channel → the roles it is for: a notice's first sending to "
        "any of these roles is posted once to the group, mentioning those recipients.",
    )


@dataclass(frozen=True)
class PlannedChannel:
    """A channel to try, and the earliest moment it may send (quiet hours)."""

    channel: str
    not_before: datetime | None


def usable(person: Person, channel_type: str) -> bool:
    """Whether the person has the address this channel type needs."""
    if channel_type == "email":
        return bool(person.email)
    if channel_type in SMS_TYPES:
        return bool(person.mobile)
    if channel_type in APP_ID_FIELDS:
        return bool(getattr(person, APP_ID_FIELDS[channel_type]))
    return True  # group robots and webhooks post to a group; mentions are optional


def channel_order(person: Person, role: str, routing: Routing, types: dict[str, str]) -> list[str]:
    """The configured channels this person can be reached on, in the order to try them."""
    order = person.channels or routing.roles.get(role) or routing.default
    return [name for name in order if name in types and usable(person, types[name])]


def exempt(quiet: QuietHours, kind: NoticeKind, level: str | None) -> bool:
    """Whether a notice goes out even inside the quiet window."""
    return any(
        (e.kind is None or e.kind == kind) and (e.level is None or e.level == level)
        for e in quiet.exempt
    )


def quiet_until(quiet: QuietHours, at: datetime, zone: ZoneInfo) -> datetime | None:
    """End of the quiet window containing `at`, or None when `at` is outside it."""
    local = at.astimezone(zone)
    start, end = _clock(quiet.start), _clock(quiet.end)
    now = local.time()
    if start <= end:
        inside = start <= now < end
        end_day = local.date()
    else:  # the window spans midnight, e.g. 22:00–07:00
        inside = now >= start or now < end
        end_day = local.date() + timedelta(days=1 if now >= start else 0)
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=zone)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
