"""Tencent Cloud SMS (腾讯云短信) ``SendSms``, API 3.0 version 2021-01-11.

Request: ``POST https://sms.tencentcloudapi.com/`` with a JSON body and the
``X-TC-Action`` / ``X-TC-Timestamp`` / ``X-TC-Version`` / ``X-TC-Region`` headers,
signed with TC3-HMAC-SHA256:

* CanonicalRequest = ``POST\\n/\\n\\n`` + canonical headers (``content-type``,
  ``host``, ``x-tc-action``; names and values trimmed and lower-cased, each line
  ending in ``\\n``) + ``\\n`` + signed header names (``;``-joined) + ``\\n``
  + hex(SHA256(payload));
* StringToSign = ``TC3-HMAC-SHA256\\n<timestamp>\\n<date>/sms/tc3_request\\n`` +
  hex(SHA256(CanonicalRequest)), ``date`` being the UTC date of the timestamp;
* SecretDate = HMAC("TC3" + SecretKey, date), SecretService = HMAC(SecretDate, "sms"),
  SecretSigning = HMAC(SecretService, "tc3_request"),
  Signature = hex(HMAC(SecretSigning, StringToSign));
* ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<scope>,
  SignedHeaders=content-type;host;x-tc-action, Signature=<hex>``.

Answer (always HTTP 200 from the API itself): ``{"Response": {"Error": {...},
"RequestId": ...}}`` for a request-level error, else ``{"Response":
{"SendStatusSet": [{"Code": "Ok", "SerialNo": ..., ...}], "RequestId": ...}}`` where a
per-number ``Code`` other than ``"Ok"`` is a failure for that number. The ``SerialNo`` is
kept as the provider message id: the status callback names it as ``sid`` (it carries no
SessionContext), so the delivery report finds its delivery.

Asked about a delivery in doubt (:meth:`TencentSmsChannel.sent_before`), the channel calls
``PullSmsSendStatusByPhoneNumber`` (same version, endpoint and signing) with
``BeginTime`` / ``EndTime`` (the last two days), ``Offset`` 0 (fixed, as documented),
``Limit`` 100, ``PhoneNumber`` and ``SmsSdkAppId``. The answer's
``PullSmsSendStatusSet[{UserReceiveTime, CountryCode, SubscriberNumber, PhoneNumber,
SerialNo, ReportStatus (SUCCESS / FAIL), Description, SessionContext}]`` holds delivery
*reports*: a status whose ``SessionContext`` is the delivery's is Tencent's record of the
send (a FAIL never reached the phone). No status proves nothing (the report may not have
come yet; the SessionContext comes back only where Tencent support enabled it), so Tencent
cannot tell then. ``PullSmsSendStatus`` is not used: it is a queue, and pulling takes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack

from yarl import URL

from ._answers import json_object, provider_error, unexpected_answer, utf8_truncate
from ._http import JSON_CONTENT_TYPE, HttpChannel, HttpOptions
from ._sms import accepted, national_mobile, template_id
from .base import DeliveryError, Family, OutboundMessage, SendResult

SERVICE = "sms"
API_VERSION = "2021-01-11"
ACTION = "SendSms"
PULL_ACTION = "PullSmsSendStatusByPhoneNumber"
PULL_LIMIT = 100  # the most one pull gives (its Offset is fixed at 0)
PULL_WINDOW_S = 2 * 86400  # a delivery is found in doubt minutes after its send
CONTENT_TYPE = JSON_CONTENT_TYPE
ALGORITHM = "TC3-HMAC-SHA256"
SESSION_CONTEXT_MAX = 512  # bytes

_RETRYABLE_PREFIXES = ("RequestLimitExceeded", "LimitExceeded.", "InternalError")
_RETRYABLE_CODES = {"ResourceUnavailable", "FailedOperation.RequestTimeException"}
_RETRY_AFTER_S = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30.0,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    "LimitExceeded.PhoneNumberDailyLimit": 3600.0,
    "LimitExceeded.DeliveryFrequencyLimit": 60.0,
}


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_canonical_request(*, payload: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """(CanonicalRequest, SignedHeaders) for a POST to ``/`` without query string.

    ``headers`` are the headers to sign (name → value as sent), e.g. content-type,
    host and x-tc-action."""
    canon = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in canon)
    signed_headers = ";".join(k for k, _ in canon)
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            canonical_headers,
            signed_headers,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    return canonical_request, signed_headers


def tc3_string_to_sign(*, timestamp: int, service: str, canonical_request: str) -> str:
    return "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            f"{_utc_date(timestamp)}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )


def tc3_signing_key(*, secret_key: str, date: str, service: str) -> bytes:
    """SecretSigning = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")."""
    secret_date = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac_sha256(secret_date, service)
    return _hmac_sha256(secret_service, "tc3_request")


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    payload: bytes,
    headers: Mapping[str, str],
) -> str:
    """The ``Authorization`` header value for a POST to ``/`` with no query string."""
    canonical_request, signed_headers = tc3_canonical_request(payload=payload, headers=headers)
    string_to_sign = tc3_string_to_sign(
        timestamp=timestamp, service=service, canonical_request=canonical_request
    )
    date = _utc_date(timestamp)
    key = tc3_signing_key(secret_key=secret_key, date=date, service=service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


def _utc_date(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def classify_code(code: str) -> bool:
    """True if a Tencent error / per-number code may succeed on a later attempt."""
    return code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES)


@dataclass(frozen=True)
class TencentSmsSettings:
    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    """SmsSdkAppId, e.g. "1400006666"."""
    sign_name: str
    endpoint: str = "https://sms.tencentcloudapi.com/"
    region: str = "ap-guangzhou"
    timeout_s: float = 10.0


class TencentSmsChannel(HttpChannel[TencentSmsSettings]):
    family: Family = "sms"
    default_name = "tencent_sms"
    report_provider = "tencent"  # status and reply callbacks: services.ack.callbacks

    def __init__(self, settings: TencentSmsSettings, **options: Unpack[HttpOptions]) -> None:
        # Parse the endpoint first: a bad one fails before an HTTP client is made.
        host = _host_of(settings.endpoint)
        super().__init__(settings, **options)
        self._host = host

    def build_request(self, message: OutboundMessage) -> tuple[bytes, dict[str, str]]:
        """Body and headers of the SendSms request for ``message``."""
        s = self.settings
        body = {
            "PhoneNumberSet": ["+86" + national_mobile(message, channel=self.name)],
            "SmsSdkAppId": s.sdk_app_id,
            "SignName": s.sign_name,
            "TemplateId": template_id(message, channel=self.name),
            "TemplateParamSet": list(message.sms_params.values()),
            "SessionContext": session_context(message.delivery_key),
        }
        return self.signed_request(ACTION, body)

    def signed_request(self, action: str, body: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The JSON body and the signed headers of one ``action`` call."""
        s = self.settings
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        timestamp = int(self._clock())
        signed = {"Content-Type": CONTENT_TYPE, "Host": self._host, "X-TC-Action": action}
        authorization = tc3_authorization(
            secret_id=s.secret_id,
            secret_key=s.secret_key,
            service=SERVICE,
            timestamp=timestamp,
            payload=payload,
            headers=signed,
        )
        headers = {
            **signed,
            "Authorization": authorization,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": API_VERSION,
            "X-TC-Region": s.region,
        }
        return payload, headers

    async def send(self, message: OutboundMessage) -> SendResult:
        resp, request_id = await self._call(*self.build_request(message))
        statuses = resp.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise DeliveryError(
                f"answer without SendStatusSet (RequestId {request_id})",
                retryable=True,
                channel=self.name,
            )
        status: dict[str, Any] = statuses[0]
        if status.get("Code") == "Ok":
            return accepted("Ok", status.get("SerialNo"), request_id)
        raise self._error(status, request_id)

    async def sent_before(self, message: OutboundMessage) -> SendResult | None:
        """Tencent's status report of an SMS sent under the delivery key (by its
        SessionContext); None when the only one says it failed; DeliveryError when the
        pull fails or finds none (no report yet proves nothing)."""
        now = int(self._clock())
        body = {
            "BeginTime": now - PULL_WINDOW_S,
            "Offset": 0,
            "Limit": PULL_LIMIT,
            "PhoneNumber": "+86" + national_mobile(message, channel=self.name),
            "SmsSdkAppId": self.settings.sdk_app_id,
            "EndTime": now,
        }
        resp, request_id = await self._call(*self.signed_request(PULL_ACTION, body))
        found = resp.get("PullSmsSendStatusSet")
        if not isinstance(found, list):
            raise DeliveryError(
                f"{PULL_ACTION}: answer without PullSmsSendStatusSet (RequestId {request_id})",
                retryable=True,
                channel=self.name,
            )
        context = session_context(message.delivery_key)
        mine = [s for s in found if isinstance(s, dict) and s.get("SessionContext") == context]
        for status in mine:
            if status.get("ReportStatus") != "FAIL":
                return accepted(
                    f"{status.get('ReportStatus')} ({PULL_ACTION})",
                    status.get("SerialNo"),
                    request_id,
                )
        if mine:
            return None  # it never reached the phone: a resend cannot repeat it
        raise DeliveryError(
            f"{PULL_ACTION}: no status report of it (yet) among {len(found)}: cannot tell",
            retryable=True,
            channel=self.name,
        )

    async def _call(self, payload: bytes, headers: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        """POST one signed call; its ``Response`` and RequestId, or the DeliveryError of a
        request-level error."""
        response = await self._http.post(self.settings.endpoint, content=payload, headers=headers)
        data = json_object(response)
        resp = data.get("Response") if data is not None else None
        if response.status_code != 200 or not isinstance(resp, dict):
            raise unexpected_answer(response, channel=self.name)
        request_id = str(resp.get("RequestId", ""))
        error = resp.get("Error")
        if isinstance(error, dict):
            raise self._error(error, request_id)
        return resp, request_id

    def _error(self, error: Mapping[str, Any], request_id: str) -> DeliveryError:
        code = str(error.get("Code", "")) or "unknown"
        return provider_error(
            "Tencent SMS",
            code,
            str(error.get("Message", "")),
            retryable=classify_code(code),
            retry_after_s=_RETRY_AFTER_S.get(code),
            channel=self.name,
            request_id=request_id,
        )


def session_context(delivery_key: str) -> str:
    """The SessionContext of a delivery: its key, cut to Tencent's 512 bytes."""
    return utf8_truncate(delivery_key, SESSION_CONTEXT_MAX, ellipsis="")


def _host_of(endpoint: str) -> str:
    """The Host header value for ``endpoint`` (port kept when it is not the default)."""
    url = URL(endpoint)
    if not url.host:
        raise ValueError("the Tencent SMS endpoint has no host")
    return url.authority if not url.is_default_port() else url.host
