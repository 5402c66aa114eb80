"""Fake Tencent Cloud SMS ``SendSms`` (API 3.0, version 2021-01-11).

Verifies: ``POST /``; headers ``X-TC-Action: SendSms``, ``X-TC-Version: 2021-01-11``,
``X-TC-Region``, ``X-TC-Timestamp`` within 5 minutes of the fake's clock; the
``Authorization`` header (``TC3-HMAC-SHA256 Credential=<id>/<date>/sms/tc3_request,
SignedHeaders=..., Signature=...``): known SecretId, credential date = UTC date of
the timestamp, service ``sms``, content-type and host among the signed headers, and
the signature recomputed from the documented algorithm over the headers as
received; JSON body with ``PhoneNumberSet`` (E.164 ``+86...``), the configured
``SmsSdkAppId``, a known ``SignName`` and ``TemplateId``, ``TemplateParamSet`` with
exactly the template's number of parameters.

Answers always HTTP 200 with ``{"Response": {...}}``: ``Error`` {Code, Message} for
request-level errors, else ``SendStatusSet`` with a per-number ``Code`` ("Ok").
``fail_next(code=..., per_number=True)`` puts the code in ``SendStatusSet`` instead.
``templates`` maps a template id to its number of parameters, or to their names in order:
then each accepted record keeps them by name (``_params``) and the ``code`` parameter
(``_code``, the reply code); it also keeps the SerialNo per number (``_serials``).

Pushes back, on demand (:meth:`FakeTencentSms.push_report`, :meth:`push_reply`, or
``POST /_control/report`` / ``/_control/reply``: see ``_pushes``), as the console's event
callbacks do: to ``report_url`` a status array ``[{"user_receive_time", "nationcode",
"mobile", "report_status": "SUCCESS" | "FAIL", "errmsg", "description", "sid"}]``, to
``reply_url`` one reply ``{"extend", "mobile", "nationcode", "sign", "text", "time"}``;
the answer must be ``{"result": 0, ...}``.

Answers ``PullSmsSendStatusByPhoneNumber`` too, from the reports made (:meth:`report`,
which :meth:`push_report` calls): see ``_tencent_pull``. Those requests go to ``queries``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from ._base import FakeHttpProvider, InjectedFailure, RecordedRequest, Rejected, json_response
from ._crypto import rfc2104_hmac, sha256_hex
from ._pushes import CONTROL_PATHS, Push, beijing_time, callback_url, control, post_json
from ._tencent_pull import PULL_ACTION, PullDesk

_AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)
_E164_CN = re.compile(r"\+861\d{10}")
_MESSAGES = {
    "RequestLimitExceeded": "请求的次数超过了频率限制。",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "单个手机号30秒内下发短信条数超过设定的上限。",
    "LimitExceeded.PhoneNumberDailyLimit": "单个手机号日下发短信条数超过设定的上限。",
    "InternalError.Timeout": "请求下发短信超时。",
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated. "
    "Please check your signature is correct.",
    "FailedOperation.TemplateIncorrectOrUnapproved": (
        "模板未审批或请求的内容与审核通过的模板内容不匹配。"
    ),
    "FailedOperation.SignatureIncorrectOrUnapproved": "签名未审批或格式错误。",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号格式错误。",
    "FailedOperation.ContainSensitiveWord": "短信内容中含有敏感词。",
}


def _hex_hmac_chain(secret_key: str, date: str, string_to_sign: str) -> str:
    k = rfc2104_hmac("sha256", b"TC3" + secret_key.encode("utf-8"), date.encode("ascii"))
    k = rfc2104_hmac("sha256", k, b"sms")
    k = rfc2104_hmac("sha256", k, b"tc3_request")
    return rfc2104_hmac("sha256", k, string_to_sign.encode("utf-8")).hex()


class FakeTencentSms(PullDesk, FakeHttpProvider):
    def __init__(
        self,
        *,
        secret_id: str = "AKID-test-id",
        secret_key: str = "tencent-test-key",
        sdk_app_id: str = "1400000001",
        sign_names: tuple[str, ...] = ("安全督办",),
        templates: Mapping[str, int | Sequence[str]] | None = None,
        report_url: str | None = None,
        reply_url: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_names = sign_names
        given = dict(templates if templates is not None else {"2000001": 2})
        self.templates = {k: v if isinstance(v, int) else len(v) for k, v in given.items()}
        self.param_names = {k: tuple(v) for k, v in given.items() if not isinstance(v, int)}
        self.report_url = callback_url(report_url, "tencent", "sms-status", "sms-reply")
        self.reply_url = callback_url(reply_url, "tencent", "sms-status", "sms-reply")
        self.pushes: list[Push] = []
        self._serial = 0
        self.statuses: list[dict[str, Any]] = []  # the reports made: what a pull finds
        self.queries: list[RecordedRequest] = []
        self._query_failures: deque[InjectedFailure] = deque()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/"

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", "/"), *(("POST", path) for path in CONTROL_PATHS)]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path in CONTROL_PATHS:  # the stand-in's own controls: not a provider call
            return await control(self, request)
        if request.headers.get("X-TC-Action") == PULL_ACTION:
            return await self._pull(request)
        return await super()._dispatch(request)

    @staticmethod
    def _error(code: str, message: str | None = None) -> web.Response:
        return json_response(
            {
                "Response": {
                    "Error": {"Code": code, "Message": message or _MESSAGES.get(code, code)},
                    "RequestId": str(uuid.uuid4()),
                }
            }
        )

    def _reject(self, code: str, reason: str | None = None) -> Rejected:
        return Rejected(self._error(code), reason or code)

    def _check_headers(self, request: web.Request, action: str = "SendSms") -> int:
        h = request.headers
        if h.get("X-TC-Action") != action:
            raise self._reject("InvalidAction", "action")
        if h.get("X-TC-Version") != "2021-01-11":
            raise self._reject("NoSuchVersion", "version")
        if not h.get("X-TC-Region"):
            raise self._reject("MissingParameter", "region")
        try:
            ts = int(h.get("X-TC-Timestamp", ""))
        except ValueError:
            raise self._reject("InvalidParameter", "timestamp") from None
        if abs(self.clock() - ts) > 300:
            raise self._reject("AuthFailure.SignatureExpire", "timestamp not fresh")
        return ts

    def _check_authorization(self, request: web.Request, body: bytes, ts: int) -> None:
        m = _AUTH.fullmatch(request.headers.get("Authorization", ""))
        if m is None:
            raise self._reject("AuthFailure.InvalidAuthorization", "authorization format")
        if m["id"] != self.secret_id:
            raise self._reject("AuthFailure.SecretIdNotFound", "secret id")
        date = time.strftime("%Y-%m-%d", time.gmtime(ts))
        if m["date"] != date or m["service"] != "sms":
            raise self._reject("AuthFailure.InvalidAuthorization", "credential scope")
        signed = m["signed"].split(";")
        if "content-type" not in signed or "host" not in signed or signed != sorted(signed):
            raise self._reject("AuthFailure.InvalidAuthorization", "signed headers")
        canonical_headers = ""
        for name in signed:
            value = request.headers.get(name)
            if value is None:
                raise self._reject("AuthFailure.InvalidAuthorization", f"no {name} header")
            canonical_headers += name + ":" + value.strip().lower() + "\n"
        canonical_request = (
            "POST\n/\n\n" + canonical_headers + "\n" + m["signed"] + "\n" + sha256_hex(body)
        )
        string_to_sign = f"TC3-HMAC-SHA256\n{ts}\n{date}/sms/tc3_request\n" + sha256_hex(
            canonical_request.encode("utf-8")
        )
        if m["sig"] != _hex_hmac_chain(self.secret_key, date, string_to_sign):
            raise self._reject("AuthFailure.SignatureFailure", "signature mismatch")

    def _check_body(self, request: web.Request, body: bytes) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise self._reject("InvalidParameter", "content type")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._reject("InvalidParameter", "body is not JSON") from None
        numbers = data.get("PhoneNumberSet") if isinstance(data, dict) else None
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= 200:
            raise self._reject("MissingParameter", "PhoneNumberSet")
        assert isinstance(data, dict)
        if data.get("SmsSdkAppId") != self.sdk_app_id:
            raise self._reject("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId")
        if data.get("SignName") not in self.sign_names:
            raise self._reject("FailedOperation.SignatureIncorrectOrUnapproved", "SignName")
        n_params = self.templates.get(str(data.get("TemplateId")))
        if n_params is None:
            raise self._reject("FailedOperation.TemplateIncorrectOrUnapproved", "TemplateId")
        params = data.get("TemplateParamSet", [])
        if (
            not isinstance(params, list)
            or len(params) != n_params
            or not all(isinstance(p, str) for p in params)
        ):
            raise self._reject("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "params")
        if not any(_E164_CN.fullmatch(str(n)) for n in numbers):
            # not a request-level error: every number fails in SendStatusSet
            raise Rejected(self._statuses(data), "no valid phone number")
        return data

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        ts = self._check_headers(request)
        self._check_authorization(request, body, ts)
        return self._check_body(request, body)

    def _status(self, number: str, session: str, code: str, message: str) -> dict[str, Any]:
        self._serial += 1
        return {
            "SerialNo": f"5000:10457106691570536578{self._serial:08d}",
            "PhoneNumber": number,
            "Fee": 1 if code == "Ok" else 0,
            "SessionContext": session,
            "Code": code,
            "Message": message,
            "IsoCode": "CN",
        }

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        names = self.param_names.get(str(record["TemplateId"]))
        if names is not None:
            record["_params"] = dict(zip(names, record["TemplateParamSet"], strict=True))
            record["_code"] = record["_params"].get("code")
        response = self._statuses(record)
        statuses = json.loads(response.text or "{}")["Response"]["SendStatusSet"]
        record["_serials"] = {s["PhoneNumber"]: s["SerialNo"] for s in statuses}
        return response

    # -- pushes back to duban ---------------------------------------------------------

    def find(self, message_id: str | None = None, mobile: str | None = None) -> dict[str, Any]:
        """The latest accepted SMS with this SerialNo or SessionContext, or to this mobile;
        LookupError when none was sent."""
        for record in reversed(self.accepted):
            serials = record.get("_serials", {})
            ids = (*serials.values(), record.get("SessionContext"))
            if message_id and message_id not in ids:
                continue
            if mobile and "+86" + mobile.removeprefix("+86") not in serials:
                continue
            return record
        raise LookupError("no such SMS was sent")

    def last_code(self, mobile: str) -> str | None:
        """The reply code of the latest SMS to ``mobile`` (None: none, or names unknown)."""
        code = self.find(mobile=mobile).get("_code")
        return None if code is None else str(code)

    async def push_report(
        self,
        record: dict[str, Any] | None = None,
        *,
        message_id: str | None = None,
        mobile: str | None = None,
        success: bool = True,
        times: int = 1,
        code: str | None = None,
    ) -> list[Push]:
        """Push the status of an SMS sent (``record``, else found by id or mobile, else
        the latest) ``times`` times: delivered, or failed with ``code``."""
        made = self.report(record, message_id=message_id, mobile=mobile, success=success, code=code)
        items = [
            {
                "user_receive_time": beijing_time(status["UserReceiveTime"]),
                "nationcode": "86",
                "mobile": status["SubscriberNumber"],
                "report_status": status["ReportStatus"],
                "errmsg": status["Description"],
                "description": "用户短信送达成功" if success else "用户短信接收失败",
                "sid": status["SerialNo"],
            }
            for status in made
        ]
        return [await self._push("report", self.report_url, items) for _ in range(times)]

    async def push_reply(self, mobile: str, text: str) -> Push:
        """Push an SMS the person sent back (the reply callback: one object)."""
        item = {
            "extend": "",
            "mobile": mobile.removeprefix("+86"),
            "nationcode": "86",
            "sign": self.sign_names[0],
            "text": text,
            "time": int(self.clock()),
        }
        return await self._push("reply", self.reply_url, item)

    async def _push(self, kind: str, url: str | None, body: Any) -> Push:
        status, answer = await post_json(url, body)
        ok = status == 200 and isinstance(answer, dict) and answer.get("result") == 0
        push = Push(kind, body, status, answer, ok)
        self.pushes.append(push)
        return push

    def _statuses(self, record: dict[str, Any]) -> web.Response:
        statuses = []
        for number in record["PhoneNumberSet"]:
            if _E164_CN.fullmatch(str(number)):
                status = self._status(
                    number, record.get("SessionContext", ""), "Ok", "send success"
                )
            else:
                code = "InvalidParameterValue.IncorrectPhoneNumber"
                status = self._status(
                    number, record.get("SessionContext", ""), code, _MESSAGES[code]
                )
            statuses.append(status)
        return json_response(
            {"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}}
        )

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        if failure.code is None:
            return self.http_error(failure.status or 502)
        code = str(failure.code)
        if failure.extra.get("per_number"):
            status = self._status(
                "+8613800000000", "", code, failure.message or _MESSAGES.get(code, code)
            )
            return json_response(
                {"Response": {"SendStatusSet": [status], "RequestId": str(uuid.uuid4())}}
            )
        return self._error(code, failure.message)
