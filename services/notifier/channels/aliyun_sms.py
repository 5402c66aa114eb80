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
from typing import Unpack
from urllib.parse import quote

from ._answers import (
    json_object,
    provider_error,
    retry_after_seconds,
    status_is_retryable,
    unexpected_answer,
)
from ._http import HttpChannel, HttpOptions
from ._sms import accepted, national_mobile, template_id
from .base import Family, OutboundMessage, SendResult

API_VERSION = "2017-05-25"
OUT_ID_MAX = 256

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
        """All request parameters including ``Signature``."""
        s = self.settings
        params = {
            "AccessKeyId": s.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": out_id(message.delivery_key),
            "PhoneNumbers": national_mobile(message, channel=self.name),
            "RegionId": s.region_id,
            "SignName": s.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "TemplateCode": template_id(message, channel=self.name),
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock())),
            "Version": API_VERSION,
        }
        if message.sms_params:
            params["TemplateParam"] = json.dumps(
                message.sms_params, ensure_ascii=False, separators=(",", ":")
            )
        params["Signature"] = rpc_signature("POST", params, s.access_key_secret)
        return params

    async def send(self, message: OutboundMessage) -> SendResult:
        params = self.build_params(message)
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
            return accepted(code, data.get("BizId"), request_id)
        # "SignatureDoesNotMatch" echoes the whole string to sign: keep it out.
        message_text = str(data.get("Message", "")).split("server string to sign")[0]
        retryable = classify_code(code) or (
            code not in _PERMANENT_CODES and status_is_retryable(response.status_code)
        )
        raise provider_error(
            "Aliyun SMS",
            code,
            message_text,
            retryable=retryable,
            retry_after_s=_RETRY_AFTER_S.get(code) or retry_after_seconds(response),
            channel=self.name,
            request_id=request_id,
        )
