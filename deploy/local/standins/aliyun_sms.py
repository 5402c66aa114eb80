"""Fake Alibaba Cloud SMS (dysmsapi) ``SendSms``, RPC style, version 2017-05-25.

Verifies: ``POST /`` with an ``application/x-www-form-urlencoded`` body (query-string
parameters are merged, as the real gateway does); the common parameters (Action,
Version, Format=JSON, RegionId, SignatureMethod=HMAC-SHA1, SignatureVersion=1.0,
a unique SignatureNonce, an ISO-8601 UTC ``Timestamp`` within 15 minutes, a known
AccessKeyId) and the ``Signature`` recomputed from the documented algorithm
(percent-encode per RFC 3986, sort, ``POST&%2F&`` + encoded canonical query,
HMAC-SHA1 with ``secret + "&"``, base64); then the SendSms parameters (PhoneNumbers
mainland mobiles, known SignName / TemplateCode, TemplateParam a JSON object with
every variable of the template).

Answers JSON like the real API: success ``{"Code": "OK", "Message": "OK",
"RequestId": ..., "BizId": ...}``; business errors HTTP 200 with their ``Code``;
signature / key / timestamp / nonce errors with HTTP 400 / 404 and ``Code``,
``Message``, ``RequestId``, ``HostId``, ``Recommend``. Each accepted record also keeps
its ``biz_id`` and the ``code`` template parameter (the reply code), if any.

Pushes back, on demand (:meth:`FakeAliyunSms.push_report`, :meth:`push_reply`, or
``POST /_control/report`` / ``/_control/reply``: see ``_pushes``), as the console's
HTTP batch push does: to ``report_url`` a SmsReport array ``[{"phone_number",
"send_time", "report_time", "success", "err_code": "DELIVERED" | e.g. "MBBLACK",
"err_msg", "sms_size", "biz_id", "out_id"}]``, to ``reply_url`` a SmsUp array
``[{"phone_number", "content", "send_time", "dest_code", "sequence_id"}]``; the answer
must be HTTP 200 with a numeric ``code``.

Answers ``QuerySendDetails`` too (what it accepted, by number and day, with the reports
made: ``_aliyun_query``), checked with the same common parameters and signature; those
requests go to ``queries``, not ``requests``, and ``fail_query_next`` fails them.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ._aliyun_query import QUERY_ACTION, QUERY_PARAMS, QueryDesk
from ._base import FakeHttpProvider, InjectedFailure, RecordedRequest, Rejected, json_response
from ._crypto import rfc2104_hmac, rfc3986_encode
from ._pushes import CONTROL_PATHS, Push, beijing_time, callback_url, control, post_json

_COMMON = (
    "AccessKeyId",
    "Action",
    "Format",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
    "Signature",
)
_SENDSMS = ("PhoneNumbers", "SignName", "TemplateCode")
_MESSAGES = {
    "isv.BUSINESS_LIMIT_CONTROL": "触发号码天级流控Permits:10",
    "Throttling.User": "Request was denied due to user flow control.",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isp.SYSTEM_ERROR": "isp.SYSTEM_ERROR",
    "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
}
_DEFAULT_STATUS = {"Throttling.User": 400, "ServiceUnavailable": 503, "InternalError": 500}
_MOBILE = re.compile(r"1\d{10}")
_TEMPLATE_VAR = re.compile(r"\$\{(\w+)\}")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    pairs = sorted((rfc3986_encode(k), rfc3986_encode(v)) for k, v in params.items())
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method}&{rfc3986_encode('/')}&{rfc3986_encode(canonical)}"


def signature(method: str, params: Mapping[str, str], secret: str) -> str:
    sts = string_to_sign(method, params).encode("utf-8")
    return base64.b64encode(rfc2104_hmac("sha1", f"{secret}&".encode(), sts)).decode("ascii")


class FakeAliyunSms(QueryDesk, FakeHttpProvider):
    def __init__(
        self,
        *,
        access_key_id: str = "LTAI-test-id",
        access_key_secret: str = "aliyun-test-secret",
        sign_names: tuple[str, ...] = ("安全督办",),
        templates: Mapping[str, str] | None = None,
        report_url: str | None = None,
        reply_url: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.report_url = callback_url(report_url, "aliyun", "sms-report", "sms-up")
        self.reply_url = callback_url(reply_url, "aliyun", "sms-report", "sms-up")
        self.pushes: list[Push] = []
        self._sequence = 0
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_names = sign_names
        self.templates = dict(
            templates
            if templates is not None
            else {"SMS_100001": "您有隐患待整改：${hazard}，请于${deadline}前完成。"}
        )
        self._nonces: set[str] = set()
        self._biz = 0
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
        body = await request.read()
        action = dict(parse_qsl(body.decode("ascii", "replace"))).get("Action")
        if (action or request.query.get("Action")) == QUERY_ACTION:
            return self._query(request, body)
        return await super()._dispatch(request)

    @staticmethod
    def _error(code: str, message: str, status: int = 200) -> web.Response:
        body: dict[str, Any] = {
            "RequestId": str(uuid.uuid4()).upper(),
            "Code": code,
            "Message": message,
        }
        if status != 200:
            body["HostId"] = "dysmsapi.aliyuncs.com"
            body["Recommend"] = "https://api.aliyun.com/troubleshoot?q=" + code
        return json_response(body, status=status)

    def _reject(self, code: str, message: str, status: int = 200) -> Rejected:
        return Rejected(self._error(code, message, status), code)

    def _parse(self, request: web.Request, body: bytes) -> dict[str, str]:
        if request.content_type != "application/x-www-form-urlencoded":
            raise self._reject("InvalidParameter", "unsupported content type", 400)
        try:
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            # a non-ASCII byte means a value was not percent-encoded
            raise self._reject("InvalidParameter", "malformed form body", 400) from None
        params = dict(request.query)
        params.update(pairs)
        return params

    def _check_common(self, params: dict[str, str], action: str = "SendSms") -> None:
        for name in _COMMON + (QUERY_PARAMS if action == QUERY_ACTION else _SENDSMS):
            if not params.get(name):
                raise self._reject(f"Missing{name}", f"{name} is mandatory for this action.", 400)
        expected = {
            "Action": action,
            "Version": "2017-05-25",
            "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
        }
        for name, value in expected.items():
            if params[name] != value:
                raise self._reject(f"Invalid{name}", f"{name} {params[name]!r} invalid", 400)
        try:
            ts = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise self._reject("InvalidTimeStamp.Format", "Timestamp format invalid", 400) from None
        if abs(ts.timestamp() - self.clock()) > 900:
            raise self._reject(
                "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400
            )
        if params["AccessKeyId"] != self.access_key_id:
            raise self._reject(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
            )
        unsigned = {k: v for k, v in params.items() if k != "Signature"}
        if params["Signature"] != signature("POST", unsigned, self.access_key_secret):
            raise self._reject(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. server string to "
                "sign is:" + string_to_sign("POST", unsigned),
                400,
            )
        if params["SignatureNonce"] in self._nonces:
            raise self._reject(
                "SignatureNonceUsed", "Specified signature nonce was used already.", 400
            )
        self._nonces.add(params["SignatureNonce"])

    def _check_sendsms(self, params: dict[str, str]) -> dict[str, str]:
        numbers = params["PhoneNumbers"].split(",")
        if not all(_MOBILE.fullmatch(n) for n in numbers):
            raise self._reject("isv.MOBILE_NUMBER_ILLEGAL", _MESSAGES["isv.MOBILE_NUMBER_ILLEGAL"])
        if params["SignName"] not in self.sign_names:
            raise self._reject("isv.SMS_SIGNATURE_ILLEGAL", _MESSAGES["isv.SMS_SIGNATURE_ILLEGAL"])
        template = self.templates.get(params["TemplateCode"])
        if template is None:
            raise self._reject("isv.SMS_TEMPLATE_ILLEGAL", _MESSAGES["isv.SMS_TEMPLATE_ILLEGAL"])
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            raise self._reject(
                "isv.INVALID_JSON_PARAM", _MESSAGES["isv.INVALID_JSON_PARAM"]
            ) from None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise self._reject("isv.INVALID_JSON_PARAM", _MESSAGES["isv.INVALID_JSON_PARAM"])
        missing = [v for v in _TEMPLATE_VAR.findall(template) if v not in values]
        if missing:
            raise self._reject(
                "isv.TEMPLATE_MISSING_PARAMETERS", _MESSAGES["isv.TEMPLATE_MISSING_PARAMETERS"]
            )
        return values

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        params = self._parse(request, body)
        self._check_common(params)
        values = self._check_sendsms(params)
        template = self.templates[params["TemplateCode"]]
        rendered = _TEMPLATE_VAR.sub(lambda m: values[m.group(1)], template)
        return {"params": params, "template_params": values, "rendered": rendered}

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        self._biz += 1
        record["biz_id"] = f"{900619746936498 + self._biz}^0"
        record["sent_at"] = self.clock()
        record["code"] = record["template_params"].get("code")
        return json_response(
            {
                "Code": "OK",
                "Message": "OK",
                "RequestId": str(uuid.uuid4()).upper(),
                "BizId": record["biz_id"],
            }
        )

    # -- pushes back to duban ---------------------------------------------------------

    def find(self, message_id: str | None = None, mobile: str | None = None) -> dict[str, Any]:
        """The latest accepted SMS with this BizId or OutId, or to this mobile; LookupError."""
        for record in reversed(self.accepted):
            ids = (record.get("biz_id"), record["params"].get("OutId"))
            if message_id and message_id not in ids:
                continue
            if mobile and mobile not in record["params"]["PhoneNumbers"].split(","):
                continue
            return record
        raise LookupError("no such SMS was sent")

    def last_code(self, mobile: str) -> str | None:
        """The reply code of the latest SMS to ``mobile`` (None: it asked for none)."""
        code = self.find(mobile=mobile).get("code")
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
        """Push the delivery report of an SMS sent (``record``, else found by id or
        mobile, else the latest) ``times`` times: delivered, or failed with ``code``."""
        sent = self.report(record, message_id=message_id, mobile=mobile, success=success, code=code)
        now = beijing_time(self.clock())
        items = [
            {
                "phone_number": number,
                "send_time": now,
                "report_time": now,
                "success": success,
                "err_code": sent["report"]["code"],
                "err_msg": "用户接收成功" if success else "用户接收失败",
                "sms_size": "1",
                "biz_id": sent["biz_id"],
                "out_id": sent["params"].get("OutId", ""),
            }
            for number in sent["params"]["PhoneNumbers"].split(",")
            if not mobile or number == mobile
        ]
        return [await self._push("report", self.report_url, items) for _ in range(times)]

    async def push_reply(self, mobile: str, text: str) -> Push:
        """Push an SMS the person sent back (SmsUp)."""
        self._sequence += 1
        item = {
            "phone_number": mobile,
            "content": text,
            "send_time": beijing_time(self.clock()),
            "dest_code": "1234",
            "sequence_id": str(1234567890 + self._sequence),
        }
        return await self._push("reply", self.reply_url, [item])

    async def _push(self, kind: str, url: str | None, body: Any) -> Push:
        status, answer = await post_json(url, body)
        ok = status == 200 and isinstance(answer, dict) and _is_number(answer.get("code"))
        push = Push(kind, body, status, answer, ok)
        self.pushes.append(push)
        return push

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        if failure.code is None:
            return self.http_error(failure.status or 503)
        code = str(failure.code)
        status = failure.status or _DEFAULT_STATUS.get(code, 200)
        return self._error(code, failure.message or _MESSAGES.get(code, code), status)


def _is_number(value: object) -> bool:
    """Aliyun checks only that the answer's ``code`` is a number."""
    return isinstance(value, int | float) and not isinstance(value, bool)
