"""Checks shared by the SMS adapters (before anything is sent)."""

from __future__ import annotations

import re

from .base import DeliveryError, OutboundMessage
from .masking import mask_mobile

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
