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
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ._base import FakeHttpProvider, InjectedFailure, Rejected, json_response
from ._crypto import rfc2104_hmac, sha256_hex

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


class FakeTencentSms(FakeHttpProvider):
    def __init__(
        self,
        *,
        secret_id: str = "AKID-test-id",
        secret_key: str = "tencent-test-key",
        sdk_app_id: str = "1400000001",
        sign_names: tuple[str, ...] = ("安全督办",),
        templates: Mapping[str, int] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_names = sign_names
        self.templates = dict(templates if templates is not None else {"2000001": 2})
        self._serial = 0

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/"

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", "/")]

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

    def _check_headers(self, request: web.Request) -> int:
        h = request.headers
        if h.get("X-TC-Action") != "SendSms":
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
        return self._statuses(record)

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
