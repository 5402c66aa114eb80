"""Generic outbound webhook to other systems, signed with HMAC-SHA256.

``POST <url>`` with a JSON body (``message.payload``, or a small default object) and:

* ``X-Duban-Timestamp``: Unix time in seconds;
* ``X-Duban-Delivery``: the delivery key (receivers de-duplicate on it;
  percent-encoded if it is not printable ASCII);
* ``X-Duban-Signature``: ``sha256=<hex(HMAC-SHA256(secret, f"{timestamp}.{body}"))>``,
  ``body`` being the exact bytes sent.

Receivers check with :func:`verify_webhook_signature`.  2xx = delivered; 408, 425,
429 and 5xx are retryable; any other status (including 3xx: redirects are not
followed) is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Unpack
from urllib.parse import quote

from ._answers import raise_unless_2xx
from ._http import JSON_CONTENT_TYPE, HttpChannel, HttpOptions, json_bytes
from .base import Family, OutboundMessage, SendResult
from .signing import HmacSha256

SIGNATURE_HEADER = "X-Duban-Signature"
TIMESTAMP_HEADER = "X-Duban-Timestamp"
DELIVERY_HEADER = "X-Duban-Delivery"


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def webhook_signature(secret: str | bytes, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Duban-Signature`` header value: ``sha256=<hex>``."""
    signed = _signed(timestamp, body)
    return "sha256=" + hmac.digest(_as_bytes(secret), signed, hashlib.sha256).hex()


def _signed(timestamp: int | str, body: bytes | str) -> bytes:
    """What the signature covers: ``<timestamp>.<body>``."""
    return str(timestamp).encode("ascii") + b"." + _as_bytes(body)


def verify_webhook_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes | str,
    header: str | None,
    now_s: float,
    tolerance_s: float = 300,
) -> bool:
    """True if ``header`` is a valid signature of ``body`` at ``timestamp`` and the
    timestamp is within ``tolerance_s`` of ``now_s``.  Constant-time comparison.

    Pass ``body`` exactly as received (the raw bytes, not re-serialised JSON)."""
    if not header or not secret:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    if not math.isfinite(now_s) or abs(now_s - ts) > tolerance_s:
        return False
    expected = webhook_signature(secret, ts, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8"))


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str = field(repr=False)
    timeout_s: float = 10.0


def _header_safe(value: str) -> str:
    """Header values must be ASCII: percent-encode anything else (UTF-8)."""
    return value if value.isascii() and value.isprintable() else quote(value, safe=":/@+=,;")


def default_payload(message: OutboundMessage) -> dict[str, object]:
    return {
        "delivery_key": message.delivery_key,
        "subject": message.subject,
        "text": message.text,
        "markdown": message.markdown,
    }


class WebhookChannel(HttpChannel[WebhookSettings]):
    family: Family = "webhook"
    dedupes_by_key = True  # receivers drop a repeated X-Duban-Delivery (a resend is harmless)
    default_name = "webhook"

    def __init__(self, settings: WebhookSettings, **options: Unpack[HttpOptions]) -> None:
        if not settings.secret:
            raise ValueError("webhook secret must not be empty")
        super().__init__(settings, **options)
        self._signer = HmacSha256(_as_bytes(settings.secret))  # webhook_signature, faster

    def build_request(self, message: OutboundMessage) -> tuple[bytes, dict[str, str]]:
        payload: Mapping[str, object] = (
            message.payload if message.payload is not None else default_payload(message)
        )
        body = json_bytes(payload)
        ts = int(self._clock())
        headers = {
            "Content-Type": JSON_CONTENT_TYPE,
            TIMESTAMP_HEADER: str(ts),
            DELIVERY_HEADER: _header_safe(message.delivery_key),
            SIGNATURE_HEADER: "sha256=" + self._signer.digest(_signed(ts, body)).hex(),
        }
        return body, headers

    async def send(self, message: OutboundMessage) -> SendResult:
        body, headers = self.build_request(message)
        response = await self._http.post(self.settings.url, content=body, headers=headers)
        raise_unless_2xx(response, channel=self.name)
        request_id = response.headers.get("X-Request-Id")
        return SendResult(
            provider_message_id=request_id,
            provider_answer=f"HTTP {response.status_code}",
        )
