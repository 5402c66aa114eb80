"""The Aliyun stand-in's ``QuerySendDetails`` (dysmsapi 2017-05-25): what it sent to one
number on one day, from what it accepted, as the API documents it.

Request: the RPC common parameters and signature of every action (checked by the
stand-in as for SendSms), then ``PhoneNumber`` (one 11-digit mobile), ``SendDate``
(``yyyyMMdd``, one of the last 30 days), ``PageSize`` (1–50), ``CurrentPage`` (from 1) and
an optional ``BizId`` (one). Answer: ``{"Code": "OK", "Message": "OK", "RequestId",
"TotalCount", "SmsSendDetailDTOs": {"SmsSendDetailDTO": [{"PhoneNum", "SendStatus",
"ErrCode", "TemplateCode", "Content", "SendDate", "ReceiveDate", "OutId"}]}}``, the SMS
of that Beijing-time day in the order sent. ``SendStatus`` is 1 while no delivery report
was made (:meth:`FakeAliyunSms.report`), then 3 (delivered, ``ErrCode`` DELIVERED) or 2
(failed, its code).
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from ._base import InjectedFailure, RecordedRequest, Rejected, json_response

QUERY_ACTION = "QuerySendDetails"
QUERY_PARAMS = ("PhoneNumber", "SendDate", "PageSize", "CurrentPage")
DAYS_BACK = 30
WAITING, FAILED, DELIVERED = 1, 2, 3
BEIJING = timezone(timedelta(hours=8))
_MOBILE = re.compile(r"1\d{10}")
_DAY = re.compile(r"\d{8}")

Reject = Callable[[str, str], Rejected]


@dataclass(frozen=True)
class Query:
    mobile: str
    day: date
    page_size: int
    page: int
    biz_id: str | None


class QueryDesk:
    """QuerySendDetails, mixed into FakeAliyunSms (whose checks and records it uses)."""

    accepted: list[dict[str, Any]]
    rejections: list[str]
    queries: list[RecordedRequest]
    _query_failures: deque[InjectedFailure]
    clock: Callable[[], float]
    _parse: Callable[[web.Request, bytes], dict[str, str]]
    _check_common: Callable[[dict[str, str], str], None]
    _reject: Reject
    failure: Callable[[InjectedFailure], web.StreamResponse]
    find: Callable[[str | None, str | None], dict[str, Any]]

    def fail_query_next(
        self, n: int = 1, *, code: str | None = None, status: int | None = None
    ) -> None:
        """Answer the next ``n`` valid QuerySendDetails with this error code / HTTP status."""
        self._query_failures.extend(InjectedFailure(code, status) for _ in range(n))

    def _query(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """Answer a QuerySendDetails: checked like a SendSms, answered from ``accepted``."""
        headers = dict(request.headers)
        self.queries.append(
            RecordedRequest(request.method, request.path, dict(request.query), headers, body)
        )
        try:
            params = self._parse(request, body)
            self._check_common(params, QUERY_ACTION)
            query = read_query(params, self.clock(), self._reject)
        except Rejected as r:
            self.rejections.append(r.reason)
            return r.response
        if self._query_failures:
            return self.failure(self._query_failures.popleft())
        return json_response(query_answer(self.accepted, query))

    def report(
        self,
        record: dict[str, Any] | None = None,
        *,
        message_id: str | None = None,
        mobile: str | None = None,
        success: bool = True,
        code: str | None = None,
    ) -> dict[str, Any]:
        """Note the delivery report of an SMS sent (as :meth:`push_report` picks it), for
        QuerySendDetails; no push. The record."""
        sent = record or self.find(message_id, mobile)
        outcome = "DELIVERED" if success else (code or "MBBLACK")
        sent["report"] = {"success": success, "code": outcome, "at": self.clock()}
        return sent


def beijing(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(BEIJING)


def read_query(params: Mapping[str, str], now_s: float, reject: Reject) -> Query:
    """The query ``params`` ask for, or ``reject(code, message)`` raised."""
    mobile = params["PhoneNumber"]
    if not _MOBILE.fullmatch(mobile):
        raise reject("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
    if not _DAY.fullmatch(params["SendDate"]):
        raise reject("isv.INVALID_PARAMETERS", "SendDate 格式应为 yyyyMMdd")
    try:
        day = datetime.strptime(params["SendDate"], "%Y%m%d").date()
    except ValueError:
        raise reject("isv.INVALID_PARAMETERS", "SendDate 不是日期") from None
    today = beijing(now_s).date()
    if not today - timedelta(days=DAYS_BACK - 1) <= day <= today:
        raise reject("isv.INVALID_PARAMETERS", "只支持查询最近 30 天的记录")
    size, page = _number(params["PageSize"]), _number(params["CurrentPage"])
    if size is None or not 1 <= size <= 50 or page is None or page < 1:
        raise reject("isv.INVALID_PARAMETERS", "PageSize 取值 1~50，CurrentPage 从 1 起")
    biz_id = params.get("BizId") or None
    if biz_id is not None and "," in biz_id:
        raise reject("isv.INVALID_PARAMETERS", "只能传入一个 BizId")
    return Query(mobile, day, size, page, biz_id)


def query_answer(accepted: Sequence[dict[str, Any]], query: Query) -> dict[str, Any]:
    """The answer to ``query`` from the SendSms records the stand-in accepted."""
    details = [
        _detail(record, query.mobile)
        for record in accepted
        if query.mobile in record["params"]["PhoneNumbers"].split(",")
        and beijing(record["sent_at"]).date() == query.day
        and (query.biz_id is None or record.get("biz_id") == query.biz_id)
    ]
    start = (query.page - 1) * query.page_size
    return {
        "Code": "OK",
        "Message": "OK",
        "RequestId": str(uuid.uuid4()).upper(),
        "TotalCount": len(details),
        "SmsSendDetailDTOs": {"SmsSendDetailDTO": details[start : start + query.page_size]},
    }


def _detail(record: dict[str, Any], mobile: str) -> dict[str, Any]:
    report: dict[str, Any] | None = record.get("report")
    status = WAITING if report is None else (DELIVERED if report["success"] else FAILED)
    return {
        "PhoneNum": mobile,
        "SendStatus": status,
        "ErrCode": "" if report is None else report["code"],
        "TemplateCode": record["params"]["TemplateCode"],
        "Content": record["rendered"],
        "SendDate": _stamp(record["sent_at"]),
        "ReceiveDate": "" if report is None else _stamp(report["at"]),
        "OutId": record["params"].get("OutId", ""),
    }


def _stamp(epoch_s: float) -> str:
    return beijing(epoch_s).strftime("%Y-%m-%d %H:%M:%S")


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None
