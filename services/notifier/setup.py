"""Channels from channels.yaml and the environment; a channel missing a variable is off.

`env` is the environment the settings were read from (`Settings.environment()`), taken
once at start: this module reads no variable itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.config.channels import (
    AliyunSmsChannel,
    ChannelBase,
    DingTalkWorkChannel,
    EmailChannel,
    FeishuAppChannel,
    RobotChannel,
    SmsBase,
    SmsGatewayChannel,
    TencentSmsChannel,
    WebhookChannel,
    WeComAppChannel,
    expand,
    unset_variables,
)
from services.config.load import Config
from services.notifier.channels import Channel, build_channel, settings_class
from services.notifier.channels.apptoken import TokenStore
from services.notifier.messages import SmsTemplates

log = logging.getLogger("duban.notifier")


def build_channels(
    config: Config, env: Mapping[str, str], tokens: TokenStore | None = None
) -> dict[str, Channel]:
    """Every configured channel whose environment is complete; one log line per channel off.
    ``tokens``: where the work-chat apps share their access tokens (None: per channel)."""
    built: dict[str, Channel] = {}
    for name, entry in config.channels.channels.items():
        missing = unset_variables(entry, env)
        if missing:
            log.warning("channel %s is off: set %s", name, ", ".join(sorted(set(missing))))
            continue
        settings = channel_settings(entry, env)
        built[name] = build_channel(entry.type, settings, name=name, tokens=tokens)
    return built


def channel_settings(entry: ChannelBase, env: Mapping[str, str]) -> object:
    """The adapter's settings dataclass for a channels.yaml entry, variables expanded."""
    values = _expanded(entry, env)
    kind = values["type"]
    fields = _FIELDS[type(entry)](values)
    fields["timeout_s"] = entry.timeout_s
    cls: Any = settings_class(kind)
    return cls(**{k: v for k, v in fields.items() if v not in (None, "")})


def sms_templates(config: Config) -> SmsTemplates:
    """Channel name → notice kind → (provider template id, parameter names)."""
    return {
        name: {key: (t.template, t.params) for key, t in entry.templates.items()}
        for name, entry in config.channels.channels.items()
        if isinstance(entry, SmsBase)
    }


def _expanded(entry: ChannelBase, env: Mapping[str, str]) -> dict[str, Any]:
    values = entry.model_dump(exclude={"templates"})
    return {k: expand(v, env) if isinstance(v, str) else v for k, v in values.items()}


def _email(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": v["host"],
        "from_addr": v["sender"],
        "port": int(v["port"]),
        "security": v["tls"],
        "username": v["user"],
        "password": v["password"],
    }


_FIELDS: dict[type, Any] = {
    EmailChannel: _email,
    RobotChannel: lambda v: (
        {"webhook_url": v["webhook_url"]}
        | ({"secret": v["secret"]} if v["type"] != "wecom" else {})
    ),
    AliyunSmsChannel: lambda v: {
        "access_key_id": v["access_key_id"],
        "access_key_secret": v["access_key_secret"],
        "sign_name": v["sign_name"],
        "endpoint": v["endpoint"],
    },
    TencentSmsChannel: lambda v: {
        "secret_id": v["secret_id"],
        "secret_key": v["secret_key"],
        "sdk_app_id": v["app_id"],
        "sign_name": v["sign_name"],
        "endpoint": v["endpoint"],
    },
    SmsGatewayChannel: lambda v: {"url": v["url"], "token": v["token"]},
    WebhookChannel: lambda v: {"url": v["url"], "secret": v["secret"]},
    WeComAppChannel: lambda v: {
        "corp_id": v["corp_id"],
        "agent_id": int(v["agent_id"]),
        "secret": v["secret"],
        "api_base": v["api_base"],
    },
    DingTalkWorkChannel: lambda v: {
        "app_key": v["app_key"],
        "app_secret": v["app_secret"],
        "agent_id": int(v["agent_id"]),
        "api_base": v["api_base"],
    },
    FeishuAppChannel: lambda v: {
        "app_id": v["app_id"],
        "app_secret": v["app_secret"],
        "api_base": v["api_base"],
    },
}
