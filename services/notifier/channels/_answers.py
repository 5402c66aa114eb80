"""How the HTTP adapters judge a provider's answer: the pieces their judgements share.

Several providers answer errors with HTTP 200 and a code in the body, so each adapter
decides; these helpers read the body, the status and ``Retry-After``, and build the
:class:`DeliveryError` with a masked reason.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Collection, Mapping
from typing import Any

from services.masking import redact

from ._http import HttpAnswer
from .base import DeliveryError, SendResult


def json_object(response: HttpAnswer) -> dict[str, Any] | None:
    """The response body as a JSON object, or ``None`` if it is not one."""
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def retry_after_seconds(response: HttpAnswer, *, now_s: float | None = None) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or HTTP-date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        now = time.time() if now_s is None else now_s
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def status_is_retryable(status: int) -> bool:
    """Generic HTTP classification: 408, 425, 429 and 5xx may succeed later."""
    return status in (408, 425, 429) or status >= 500


def http_status_error(
    response: HttpAnswer,
    *,
    channel: str,
    what: str = "",
    detail: str | None = None,
) -> DeliveryError:
    """A DeliveryError for a response whose HTTP status is the whole story."""
    status = response.status_code
    retryable = status_is_retryable(status)
    reason = f"HTTP {status}"
    if what:
        reason = f"{what}: {reason}"
    if detail:
        reason = f"{reason} {redact(detail, limit=200)}"
    return DeliveryError(
        reason,
        retryable=retryable,
        provider_code=f"HTTP {status}",
        retry_after_s=retry_after_seconds(response) if retryable else None,
        channel=channel,
    )


def raise_unless_2xx(response: HttpAnswer, *, channel: str) -> None:
    """Raise the HTTP status error (with a piece of the body) for a non-2xx answer."""
    if not 200 <= response.status_code < 300:
        raise http_status_error(response, channel=channel, detail=body_snippet(response))


def unexpected_answer(response: HttpAnswer, *, channel: str) -> DeliveryError:
    """The error for an answer without the provider's code: its HTTP status if not 200,
    else retryable (a proxy or an outage page may stand where the provider should)."""
    if response.status_code != 200:
        return http_status_error(response, channel=channel, detail=body_snippet(response))
    return DeliveryError(
        f"unexpected answer: {body_snippet(response)}",
        retryable=True,
        channel=channel,
    )


def provider_error(
    label: str,
    code: object,
    message: str,
    *,
    retryable: bool,
    retry_after_s: float | None,
    channel: str,
    request_id: str | None = None,
) -> DeliveryError:
    """The error for a provider's own failure code: ``"<label> <code>: <message>"``."""
    reason = f"{label} {code}: {redact(message, limit=200)}"
    if request_id is not None:
        reason += f" (RequestId {request_id})"
    return DeliveryError(
        reason,
        retryable=retryable,
        provider_code=str(code),
        retry_after_s=retry_after_s if retryable else None,
        channel=channel,
    )


def errcode_result(
    response: HttpAnswer,
    *,
    channel: str,
    provider: str,
    retryable_codes: Collection[int],
    retry_after_s: Mapping[int, float],
) -> SendResult:
    """Judge a robot's HTTP 200 ``{"errcode": 0, "errmsg": ...}`` answer (DingTalk, WeCom);
    any other errcode raises, retryable if in ``retryable_codes``."""
    data = json_object(response)
    if response.status_code != 200 or data is None or "errcode" not in data:
        raise unexpected_answer(response, channel=channel)
    errcode = data.get("errcode")
    errmsg = str(data.get("errmsg", ""))
    if errcode == 0:
        return SendResult(provider_message_id=None, provider_answer=f"errcode=0 {errmsg}")
    code = errcode if isinstance(errcode, int) else None
    raise provider_error(
        f"{provider} errcode",
        errcode,
        errmsg,
        retryable=code in retryable_codes,
        retry_after_s=retry_after_s.get(code) if code is not None else None,
        channel=channel,
    )


def body_snippet(response: HttpAnswer, limit: int = 120) -> str:
    """A short, redacted piece of a response body for error messages."""
    try:
        text = response.content.decode("utf-8", errors="replace")
    except Exception:  # pragma: no cover - bytes.decode with "replace" does not raise
        return ""
    return redact(text, limit=limit)


def utf8_truncate(text: str, max_bytes: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` so its UTF-8 encoding fits in ``max_bytes`` (adding ``ellipsis``)."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    budget = max_bytes - len(ellipsis.encode("utf-8"))
    cut = raw[: max(0, budget)].decode("utf-8", errors="ignore")
    return cut + ellipsis
