"""Pieces shared by the SMS adapters: checks before anything is sent, and the result."""

from __future__ import annotations

import re

from services.masking import mask_mobile

from .base import DeliveryError, OutboundMessage, SendResult

_CN_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")


def national_mobile(message: OutboundMessage, *, channel: str) -> str:
    """The 11-digit mainland mobile of ``message``; permanent DeliveryError if absent
    or not a mainland mobile number."""
    raw = message.to_mobile
    if not raw or not raw.strip():
        raise DeliveryError("message has no mobile number", retryable=False, channel=channel)
    cleaned = re.sub(r"[\s-]", "", raw)
    m = _CN_MOBILE.fullmatch(cleaned)
    if m is None:
        raise DeliveryError(
            f"not a mainland mobile number: {mask_mobile(raw)}",
            retryable=False,
            provider_code="invalid_mobile",
            channel=channel,
        )
    return m.group(1)


def template_id(message: OutboundMessage, *, channel: str) -> str:
    if not message.sms_template:
        raise DeliveryError("message has no SMS template id", retryable=False, channel=channel)
    return message.sms_template


def accepted(code: str, provider_id: object, request_id: str) -> SendResult:
    """The result of an accepted SMS: the provider's id (if any) and its request id."""
    return SendResult(
        provider_message_id=str(provider_id) if provider_id else None,
        provider_answer=f"Code={code} RequestId={request_id}",
    )
