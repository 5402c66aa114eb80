"""Channel adapters: email, work-chat robots and apps, SMS providers and a generic webhook.

Importing this package is cheap; adapter modules are imported on first use by
:func:`build_channel`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from services.masking import mask_email, mask_mobile, redact

from .base import Channel, DeliveryError, Family, OutboundMessage, SendResult

if TYPE_CHECKING:
    import aiohttp

    from .apptoken import TokenStore

# kind → (module, channel class, settings class)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "email": ("email", "EmailChannel", "EmailSettings"),
    "wecom": ("wecom", "WeComChannel", "WeComSettings"),
    "dingtalk": ("dingtalk", "DingTalkChannel", "DingTalkSettings"),
    "feishu": ("feishu", "FeishuChannel", "FeishuSettings"),
    "aliyun_sms": ("aliyun_sms", "AliyunSmsChannel", "AliyunSmsSettings"),
    "tencent_sms": ("tencent_sms", "TencentSmsChannel", "TencentSmsSettings"),
    "sms_gateway": ("sms_gateway", "SmsGatewayChannel", "SmsGatewaySettings"),
    "webhook": ("webhook", "WebhookChannel", "WebhookSettings"),
    "wecom_app": ("wecom_app", "WeComAppChannel", "WeComAppSettings"),
    "dingtalk_work": ("dingtalk_work", "DingTalkWorkChannel", "DingTalkWorkSettings"),
    "feishu_app": ("feishu_app", "FeishuAppChannel", "FeishuAppSettings"),
}
KINDS: tuple[str, ...] = tuple(_REGISTRY)
APP_KINDS = frozenset({"wecom_app", "dingtalk_work", "feishu_app"})
"""Personal work-chat apps: they send with an access token kept in a token store."""


def settings_class(kind: str) -> type:
    """The frozen settings dataclass for a channel kind."""
    module_name, _, settings_name = _lookup(kind)
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls: type = getattr(module, settings_name)
    return cls


def build_channel(
    kind: str,
    settings: object,
    *,
    client: aiohttp.ClientSession | None = None,
    name: str | None = None,
    tokens: TokenStore | None = None,
) -> Channel:
    """Build the adapter for ``kind`` from its settings dataclass.

    ``client``: a shared ``aiohttp.ClientSession`` for the HTTP adapters (not closed by
    the adapter's ``aclose``); ignored by ``email``.  ``name`` defaults to ``kind``.
    ``tokens``: where the work-chat apps keep their access tokens (shared by replicas in
    Redis); ``None``: in this process only.
    """
    module_name, channel_name, settings_name = _lookup(kind)
    module = importlib.import_module(f"{__name__}.{module_name}")
    settings_cls = getattr(module, settings_name)
    if not isinstance(settings, settings_cls):
        raise TypeError(
            f"channel kind {kind!r} needs {settings_name}, got {type(settings).__name__}"
        )
    channel_cls = getattr(module, channel_name)
    kwargs: dict[str, object] = {"name": name or kind}
    if kind != "email":
        kwargs["client"] = client
    if kind in APP_KINDS:
        kwargs["tokens"] = tokens
    channel: Channel = channel_cls(settings, **kwargs)
    return channel


def _lookup(kind: str) -> tuple[str, str, str]:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown channel kind {kind!r}; known: {', '.join(KINDS)}") from None


__all__ = [
    "APP_KINDS",
    "KINDS",
    "Channel",
    "DeliveryError",
    "Family",
    "OutboundMessage",
    "SendResult",
    "build_channel",
    "mask_email",
    "mask_mobile",
    "redact",
    "settings_class",
]
