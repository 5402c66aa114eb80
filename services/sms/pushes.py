"""What the SMS providers push to duban, read into plain records (pure; no I/O).

Aliyun (HTTP batch push, console 回执消息 → HTTP批量推送模式), each a JSON array:

* SmsReport: ``[{"phone_number", "send_time", "report_time", "success": true,
  "err_code": "DELIVERED", "err_msg", "sms_size", "biz_id", "out_id"}]``; ``out_id`` is
  the ``OutId`` we sent (our delivery key), ``biz_id`` the ``BizId`` SendSms answered.
* SmsUp: ``[{"phone_number", "send_time", "content", "sign_name", "dest_code",
  "sequence_id"}]``.

Tencent (console 事件回调配置), JSON:

* status callback, an array: ``[{"user_receive_time", "nationcode", "mobile",
  "report_status": "SUCCESS" | "FAIL", "errmsg", "description", "sid"}]``; ``sid`` is
  the ``SerialNo`` SendSms answered (the callback carries no SessionContext);
* reply callback, one object: ``{"extend", "mobile", "nationcode", "sign", "text",
  "time"}`` (``time`` in Unix seconds). An array of them is read too.

Times the providers write without an offset are Beijing time. One unreadable item is
reported as :class:`Unreadable` beside the others; it never spoils the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from services.sms.numbers import national_mobile

Provider = Literal["aliyun", "tencent"]
BEIJING = timezone(timedelta(hours=8))
MAX_TEXT = 256  # any one value kept from a push: longer is cut
T = TypeVar("T")


class NotABatch(ValueError):
    """The body is not the JSON shape the provider pushes (an array of objects)."""


@dataclass(frozen=True)
class DeliveryReport:
    """A provider's report of whether one SMS reached the handset."""

    provider: Provider
    delivery_key: str | None  # Aliyun out_id: the delivery key we sent as OutId
    provider_id: str | None  # Aliyun biz_id, Tencent sid: the id SendSms answered
    mobile: str | None  # 11 digits
    success: bool
    code: str  # DELIVERED / DELIVRD, or the carrier's code (MBBLACK, UNDELIV, ...)
    description: str
    reported_at: datetime | None


@dataclass(frozen=True)
class UplinkSms:
    """An SMS a recipient sent back (a reply), as the provider pushed it."""

    provider: Provider
    mobile: str  # 11 digits
    text: str
    sent_at: datetime | None


@dataclass(frozen=True)
class Unreadable:
    """One item of a push that could not be read, and why (no personal data in it)."""

    index: int
    reason: str


def aliyun_reports(body: object) -> list[DeliveryReport | Unreadable]:
    """The items of an Aliyun SmsReport push."""
    return _each(_array(body), _aliyun_report)


def aliyun_uplinks(body: object) -> list[UplinkSms | Unreadable]:
    """The items of an Aliyun SmsUp push."""
    return _each(_array(body), _aliyun_uplink)


def tencent_reports(body: object) -> list[DeliveryReport | Unreadable]:
    """The items of a Tencent status callback."""
    return _each(_array(body), _tencent_report)


def tencent_uplinks(body: object) -> list[UplinkSms | Unreadable]:
    """The reply (or replies) of a Tencent reply callback."""
    return _each(_array(body, single_allowed=True), _tencent_uplink)


def _array(body: object, *, single_allowed: bool = False) -> list[object]:
    if single_allowed and isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise NotABatch("the body is not a JSON array")
    return body


def _each(items: list[object], read: Callable[[Mapping[str, Any]], T]) -> list[T | Unreadable]:
    found: list[T | Unreadable] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            found.append(Unreadable(index, "not a JSON object"))
            continue
        try:
            found.append(read(item))
        except ValueError as e:
            found.append(Unreadable(index, str(e)))
    return found


def _aliyun_report(item: Mapping[str, Any]) -> DeliveryReport:
    success = item.get("success")
    if isinstance(success, str) and success.lower() in ("true", "false"):
        success = success.lower() == "true"
    if not isinstance(success, bool):
        raise ValueError("success: not true or false")
    out_id, biz_id = _text(item, "out_id"), _text(item, "biz_id")
    if not out_id and not biz_id:
        raise ValueError("neither out_id nor biz_id")
    return DeliveryReport(
        provider="aliyun",
        delivery_key=out_id or None,
        provider_id=biz_id or None,
        mobile=national_mobile(item.get("phone_number")),
        success=success,
        code=_text(item, "err_code"),
        description=_text(item, "err_msg"),
        reported_at=_beijing(item.get("report_time")),
    )


def _aliyun_uplink(item: Mapping[str, Any]) -> UplinkSms:
    return UplinkSms(
        provider="aliyun",
        mobile=_mobile(item.get("phone_number")),
        text=_text(item, "content"),
        sent_at=_beijing(item.get("send_time")),
    )


def _tencent_report(item: Mapping[str, Any]) -> DeliveryReport:
    status = _text(item, "report_status").upper()
    if status not in ("SUCCESS", "FAIL"):
        raise ValueError("report_status: not SUCCESS or FAIL")
    sid = _text(item, "sid")
    if not sid:
        raise ValueError("no sid")
    return DeliveryReport(
        provider="tencent",
        delivery_key=None,
        provider_id=sid,
        mobile=national_mobile(item.get("mobile")),
        success=status == "SUCCESS",
        code=_text(item, "errmsg"),
        description=_text(item, "description"),
        reported_at=_beijing(item.get("user_receive_time")),
    )


def _tencent_uplink(item: Mapping[str, Any]) -> UplinkSms:
    moment = item.get("time")
    sent_at = None
    if isinstance(moment, int) and not isinstance(moment, bool) and 0 < moment < 2**34:
        sent_at = datetime.fromtimestamp(moment, UTC)
    return UplinkSms(
        provider="tencent",
        mobile=_mobile(item.get("mobile")),
        text=_text(item, "text"),
        sent_at=sent_at,
    )


def _mobile(value: object) -> str:
    mobile = national_mobile(value)
    if mobile is None:
        raise ValueError("not a mainland mobile number")
    return mobile


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{name}: not text")
    return str(value).strip()[:MAX_TEXT]


def _beijing(value: object) -> datetime | None:
    """A provider's "yyyy-MM-dd HH:mm:ss" (Beijing time) as an aware datetime."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None
