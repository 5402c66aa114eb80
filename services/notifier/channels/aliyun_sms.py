"""Alibaba Cloud SMS (阿里云短信) ``SendSms``, RPC-style API version 2017-05-25.

Request: ``POST https://dysmsapi.aliyuncs.com/`` with all parameters in an
``application/x-www-form-urlencoded`` body, signed with signature version 1.0:

1. every parameter except ``Signature`` is percent-encoded (RFC 3986: unreserved
   ``A-Z a-z 0-9 - _ . ~`` kept, everything else as UTF-8 ``%XX`` upper-case, so a
   space is ``%20``, ``*`` is ``%2A`` and ``~`` stays);
2. pairs sorted by parameter name, joined as ``k=v`` with ``&`` (canonicalized query);
3. ``StringToSign = "POST" + "&" + percentEncode("/") + "&" + percentEncode(canonical)``;
4. ``Signature = base64(HMAC-SHA1(key=AccessKeySecret + "&", StringToSign))``.

``OutId`` carries the delivery key and ``BizId`` is kept as the provider message id: the
SmsReport push names both, so its delivery report finds the delivery.

Asked about a delivery in doubt (:meth:`AliyunSmsChannel.sent_before`), the channel calls
``QuerySendDetails`` (same endpoint, signing and answer codes) with ``PhoneNumber``,
``SendDate`` (``yyyyMMdd``, Beijing time: today, then yesterday), ``PageSize`` 50 and
``CurrentPage``; the answer lists the SMS sent to that number that day as
``SmsSendDetailDTOs.SmsSendDetailDTO[{PhoneNum, SendStatus (1 waiting for its report,
2 failed, 3 delivered), ErrCode, TemplateCode, Content, SendDate, ReceiveDate, OutId}]``
and ``TotalCount``. A record whose ``OutId`` is the delivery's (hashed as :func:`out_id`
hashes it) is the provider's record of the send; one that failed (2) never reached the
phone, so a resend cannot repeat it. The records carry no ``BizId``.

Answer: JSON ``{"Code": "OK", "Message": "OK", "RequestId": ..., "BizId": ...}``; a
business error has another ``Code`` (HTTP 200); gateway-level errors such as
``SignatureDoesNotMatch`` (HTTP 400) or ``InvalidAccessKeyId.NotFound`` (HTTP 404)
carry ``Code`` too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Unpack
from urllib.parse import quote

from ._answers import (
    json_object,
    provider_error,
    retry_after_seconds,
    status_is_retryable,
    unexpected_answer,
)
from ._http import HttpAnswer, HttpChannel, HttpOptions
from ._sms import accepted, national_mobile, template_id
from .base import DeliveryError, Family, OutboundMessage, SendResult

API_VERSION = "2017-05-25"
OUT_ID_MAX = 256
QUERY_ACTION = "QuerySendDetails"
QUERY_PAGE_SIZE = 50  # the most QuerySendDetails gives per page
QUERY_PAGES_MAX = 20  # 1000 SMS to one number in a day: beyond that, it cannot tell
QUERY_DAYS = 2  # today and yesterday: a delivery is found in doubt minutes after its send
FAILED = 2  # SendStatus: the SMS did not reach the phone
BEIJING = timezone(timedelta(hours=8))

_PERMANENT_CODES = {
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.SMS_TEMPLATE_ILLEGAL",
    "isv.SMS_SIGNATURE_ILLEGAL",
    "isv.TEMPLATE_MISSING_PARAMETERS",
    "isv.INVALID_PARAMETERS",
    "isv.INVALID_JSON_PARAM",
    "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.PARAM_LENGTH_LIMIT",
    "isv.DAY_LIMIT_CONTROL",
    "isv.AMOUNT_NOT_ENOUGH",
    "isv.OUT_OF_SERVICE",
    "isv.ACCOUNT_NOT_EXISTS",
    "isv.ACCOUNT_ABNORMAL",
    "isv.DENY_IP_RANGE",
    "isp.RAM_PERMISSION_DENY",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "InvalidTimeStamp.Expired",
    "IncompleteSignature",
    "Forbidden.RAM",
}
_RETRYABLE_CODES = {
    "isv.BUSINESS_LIMIT_CONTROL",  # per-number rate control (1/min, 5/h, 10/day ...)
    "Throttling.User",
    "Throttling",
    "Throttling.Api",
    "SignatureNonceUsed",  # a retry gets a fresh nonce
    "ServiceUnavailable",
    "InternalError",
    "isp.SYSTEM_ERROR",
}
_RETRYABLE_PREFIXES = ("Throttling", "isp.", "InternalError", "ServiceUnavailable")
_RETRY_AFTER_S = {"isv.BUSINESS_LIMIT_CONTROL": 60.0}


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as the Aliyun signature spec wants it."""
    return quote(value, safe="-_.~", encoding="utf-8")


def canonicalized_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def rpc_signature(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """Signature (version 1.0, HMAC-SHA1) of ``params`` (without ``Signature``)."""
    string_to_sign = (
        f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonicalized_query(params))}"
    )
    key = (access_key_secret + "&").encode("utf-8")
    digest = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def out_id(delivery_key: str) -> str:
    """The OutId of a delivery: its key, which SmsReport echoes as ``out_id``; a key too
    long for OutId (<256 characters) is sent as a hash, and its report is matched by BizId."""
    if len(delivery_key) < OUT_ID_MAX:
        return delivery_key
    return "sha256:" + hashlib.sha256(delivery_key.encode()).hexdigest()


def classify_code(code: str) -> bool:
    """True if a SendSms answer ``Code`` may succeed on a later attempt."""
    if code in _PERMANENT_CODES:
        return False
    return code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES)


@dataclass(frozen=True)
class AliyunSmsSettings:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign_name: str
    """SignName, the approved 签名 (e.g. "督办平台")."""
    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    region_id: str = "cn-hangzhou"
    timeout_s: float = 10.0


class AliyunSmsChannel(HttpChannel[AliyunSmsSettings]):
    family: Family = "sms"
    default_name = "aliyun_sms"
    report_provider = "aliyun"  # SmsReport / SmsUp pushes: services.ack.callbacks

    def __init__(
        self,
        settings: AliyunSmsSettings,
        *,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(settings, **options)
        self._nonce = nonce

    def build_params(self, message: OutboundMessage) -> dict[str, str]:
        """All request parameters of its SendSms, including ``Signature``."""
        params = {
            **self._common("SendSms"),
            "OutId": out_id(message.delivery_key),
            "PhoneNumbers": national_mobile(message, channel=self.name),
            "SignName": self.settings.sign_name,
            "TemplateCode": template_id(message, channel=self.name),
        }
        if message.sms_params:
            params["TemplateParam"] = json.dumps(
                message.sms_params, ensure_ascii=False, separators=(",", ":")
            )
        return self._signed(params)

    def query_params(self, mobile: str, send_date: str, page: int) -> dict[str, str]:
        """All request parameters of a QuerySendDetails, including ``Signature``."""
        return self._signed(
            {
                **self._common(QUERY_ACTION),
                "PhoneNumber": mobile,
                "SendDate": send_date,
                "PageSize": str(QUERY_PAGE_SIZE),
                "CurrentPage": str(page),
            }
        )

    def _common(self, action: str) -> dict[str, str]:
        s = self.settings
        return {
            "AccessKeyId": s.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": s.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock())),
            "Version": API_VERSION,
        }

    def _signed(self, params: dict[str, str]) -> dict[str, str]:
        params["Signature"] = rpc_signature("POST", params, self.settings.access_key_secret)
        return params

    async def send(self, message: OutboundMessage) -> SendResult:
        data, request_id = await self._call(self.build_params(message))
        return accepted("OK", data.get("BizId"), request_id)

    async def sent_before(self, message: OutboundMessage) -> SendResult | None:
        """Aliyun's record of an SMS sent under the delivery key (QuerySendDetails by
        OutId, today and yesterday); None when it has none, or only one that failed;
        DeliveryError when the query fails."""
        mobile = national_mobile(message, channel=self.name)
        wanted = out_id(message.delivery_key)
        today = datetime.fromtimestamp(self._clock(), UTC).astimezone(BEIJING)
        for back in range(QUERY_DAYS):
            day = (today - timedelta(days=back)).strftime("%Y%m%d")
            for record in await self._records(mobile, day):
                status = str(record.get("SendStatus", ""))
                if record.get("OutId") == wanted and status != str(FAILED):
                    return SendResult(
                        provider_message_id=None,  # QuerySendDetails names no BizId
                        provider_answer=f"{QUERY_ACTION} SendStatus={status} "
                        f"ErrCode={record.get('ErrCode', '')} SendDate={day}",
                    )
        return None

    async def _records(self, mobile: str, day: str) -> list[dict[str, Any]]:
        """Every SmsSendDetailDTO of SMS sent to ``mobile`` on ``day``, page by page."""
        records: list[dict[str, Any]] = []
        for page in range(1, QUERY_PAGES_MAX + 1):
            data, _ = await self._call(self.query_params(mobile, day, page))
            found, total = _details(data, self.name)
            records.extend(found)
            if not found or len(records) >= total:
                return records
        raise DeliveryError(
            f"{QUERY_ACTION}: more than {len(records)} SMS to one number in a day",
            retryable=False,
            channel=self.name,
        )

    async def _call(self, params: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        """POST one signed request; its answer and RequestId when ``Code`` is OK, else
        the DeliveryError its code calls for."""
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
        response = await self._http.post(
            self.settings.endpoint,
            content=body.encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept": "application/json",
            },
        )
        data = json_object(response)
        code = data.get("Code") if data is not None else None
        if data is None or not isinstance(code, str) or not code:
            raise unexpected_answer(response, channel=self.name)
        request_id = str(data.get("RequestId", ""))
        if code == "OK" and response.status_code == 200:
            return data, request_id
        raise self._refused(response, code, str(data.get("Message", "")), request_id)

    def _refused(
        self, response: HttpAnswer, code: str, message: str, request_id: str
    ) -> DeliveryError:
        # "SignatureDoesNotMatch" echoes the whole string to sign: keep it out.
        message_text = message.split("server string to sign")[0]
        retryable = classify_code(code) or (
            code not in _PERMANENT_CODES and status_is_retryable(response.status_code)
        )
        return provider_error(
            "Aliyun SMS",
            code,
            message_text,
            retryable=retryable,
            retry_after_s=_RETRY_AFTER_S.get(code) or retry_after_seconds(response),
            channel=self.name,
            request_id=request_id,
        )


def _details(data: Mapping[str, Any], channel: str) -> tuple[list[dict[str, Any]], int]:
    """(the SmsSendDetailDTO records of a QuerySendDetails answer, its TotalCount)."""
    holder = data.get("SmsSendDetailDTOs")
    records = holder.get("SmsSendDetailDTO") if isinstance(holder, dict) else holder
    try:
        total = int(data.get("TotalCount") or 0)
    except (TypeError, ValueError):
        total = -1
    if records is None and total == 0:
        return [], 0
    if not isinstance(records, list) or total < 0:
        raise DeliveryError(
            f"{QUERY_ACTION}: unexpected answer (RequestId {data.get('RequestId', '')})",
            retryable=True,
            channel=channel,
        )
    return [r for r in records if isinstance(r, dict)], total
