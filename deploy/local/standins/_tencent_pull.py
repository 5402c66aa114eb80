"""The Tencent stand-in's ``PullSmsSendStatusByPhoneNumber`` (API 3.0, 2021-01-11): the
delivery reports of one number, as the API documents it.

Request: ``POST /`` with ``X-TC-Action: PullSmsSendStatusByPhoneNumber`` and the headers
and TC3 signature of every action (checked as for SendSms), and a JSON body
``{"BeginTime", "Offset": 0, "Limit" (1–100), "PhoneNumber" (E.164), "SmsSdkAppId",
"EndTime"?}``; ``BeginTime`` at most 7 days back. Answer: ``{"Response":
{"PullSmsSendStatusSet": [{"UserReceiveTime", "CountryCode", "SubscriberNumber",
"PhoneNumber", "SerialNo", "ReportStatus": "SUCCESS" | "FAIL", "Description",
"SessionContext"}], "RequestId"}}``: one status per delivery report made
(:meth:`FakeTencentSms.report`) within the times, at most ``Limit``. An SMS accepted
and not yet reported has no status.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._base import InjectedFailure, RecordedRequest, Rejected, json_response

PULL_ACTION = "PullSmsSendStatusByPhoneNumber"
DAYS_BACK_S = 7 * 86400
_E164_CN = re.compile(r"\+861\d{10}")


@dataclass(frozen=True)
class Pull:
    number: str
    begin: int
    end: int | None
    limit: int


class PullDesk:
    """PullSmsSendStatusByPhoneNumber, mixed into FakeTencentSms (whose checks it uses)."""

    sdk_app_id: str
    statuses: list[dict[str, Any]]
    rejections: list[str]
    queries: list[RecordedRequest]
    _query_failures: deque[InjectedFailure]
    clock: Callable[[], float]
    _check_headers: Callable[[web.Request, str], int]
    _check_authorization: Callable[[web.Request, bytes, int], None]
    _reject: Callable[[str, str | None], Rejected]
    failure: Callable[[InjectedFailure], web.StreamResponse]
    find: Callable[[str | None, str | None], dict[str, Any]]

    def fail_query_next(
        self, n: int = 1, *, code: str | None = None, status: int | None = None
    ) -> None:
        """Answer the next ``n`` valid pulls with this error code / HTTP status."""
        self._query_failures.extend(InjectedFailure(code, status) for _ in range(n))

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        """Answer a PullSmsSendStatusByPhoneNumber from the reports made."""
        body = await request.read()
        headers = dict(request.headers)
        self.queries.append(
            RecordedRequest(request.method, request.path, dict(request.query), headers, body)
        )
        try:
            ts = self._check_headers(request, PULL_ACTION)
            self._check_authorization(request, body, ts)
            pull = self._read_pull(request, body)
        except Rejected as r:
            self.rejections.append(r.reason)
            return r.response
        if self._query_failures:
            return self.failure(self._query_failures.popleft())
        found = [
            s
            for s in self.statuses
            if s["PhoneNumber"] == pull.number
            and pull.begin <= s["UserReceiveTime"] <= (pull.end or s["UserReceiveTime"])
        ]
        answer = {"PullSmsSendStatusSet": found[: pull.limit], "RequestId": str(uuid.uuid4())}
        return json_response({"Response": answer})

    def _read_pull(self, request: web.Request, body: bytes) -> Pull:
        data = self._json_body(request, body)
        for name in ("BeginTime", "Offset", "Limit", "PhoneNumber", "SmsSdkAppId"):
            if name not in data:
                raise self._reject("MissingParameter", name)
        if data["SmsSdkAppId"] != self.sdk_app_id:
            raise self._reject("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId")
        begin, end, limit = data["BeginTime"], data.get("EndTime"), data["Limit"]
        if not _integer(begin) or begin < self.clock() - DAYS_BACK_S:
            raise self._reject("InvalidParameterValue", "BeginTime")
        if end is not None and not _integer(end):
            raise self._reject("InvalidParameterValue", "EndTime")
        if data["Offset"] != 0 or not _integer(limit) or not 1 <= limit <= 100:
            raise self._reject("InvalidParameterValue", "Offset / Limit")
        if not _E164_CN.fullmatch(str(data["PhoneNumber"])):
            raise self._reject("InvalidParameterValue.IncorrectPhoneNumber", "PhoneNumber")
        return Pull(data["PhoneNumber"], begin, end, limit)

    def _json_body(self, request: web.Request, body: bytes) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise self._reject("InvalidParameter", "content type")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._reject("InvalidParameter", "body is not JSON") from None
        if not isinstance(data, dict):
            raise self._reject("InvalidParameter", "body is not an object")
        return data

    def report(
        self,
        record: dict[str, Any] | None = None,
        *,
        message_id: str | None = None,
        mobile: str | None = None,
        success: bool = True,
        code: str | None = None,
    ) -> list[dict[str, Any]]:
        """Make the delivery report of an SMS sent (as :meth:`push_report` picks it), for
        the pull to find; no push. Its statuses, one per number."""
        sent = record or self.find(message_id, mobile)
        made = [
            status_of(sent, number, success, code, self.clock())
            for number in sent.get("_serials", {})
            if not mobile or number.removeprefix("+86") == mobile.removeprefix("+86")
        ]
        self.statuses.extend(made)
        return made


def status_of(
    record: dict[str, Any], number: str, success: bool, code: str | None, at: float
) -> dict[str, Any]:
    """The pull's status of one number of an SMS sent (``record``), reported at ``at``."""
    return {
        "UserReceiveTime": int(at),
        "CountryCode": "86",
        "SubscriberNumber": number.removeprefix("+86"),
        "PhoneNumber": number,
        "SerialNo": record.get("_serials", {}).get(number, ""),
        "ReportStatus": "SUCCESS" if success else "FAIL",
        "Description": "DELIVRD" if success else (code or "MBBLACK"),
        "SessionContext": record.get("SessionContext", ""),
    }


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
