"""channels.yaml: the configured channels, their settings (from the environment) and routing.

The environment is always given (`Settings.environment()`): this module reads no variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from services.core.policy import Strict
from services.core.routing import Routing

_ENV_REF = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_SECRET_FIELDS = ("password", "secret", "access_key_secret", "secret_key", "token", "app_secret")


def expand(value: str, env: Mapping[str, str]) -> str | None:
    """Replace ${NAME} / ${NAME:-default}; None when a variable without default is unset."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        found = env.get(match["name"]) or match["default"]
        if found is None:
            missing = True
            return ""
        return found

    result = _ENV_REF.sub(substitute, value)
    return None if missing else result


def env_names(value: str) -> list[str]:
    """The environment variables a setting reads."""
    return [m["name"] for m in _ENV_REF.finditer(value)]


class SmsTemplate(Strict):
    """The provider's template for one notice kind, and which facts fill its parameters."""

    template: str = Field(description="Provider template id / code, e.g. SMS_123456789.")
    params: tuple[str, ...] = Field((), description="Parameter names, in the template's order.")


class ChannelBase(Strict):
    """Settings every channel has."""

    rate_per_minute: int | None = Field(None, ge=1, description="Shared across replicas.")
    rate_per_second: int | None = Field(None, ge=1, description="Shared across replicas.")
    timeout_s: float = Field(10.0, gt=0, description="Per-request timeout.")

    @field_validator(*_SECRET_FIELDS, mode="after", check_fields=False)
    @classmethod
    def _secret_from_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_REF.fullmatch(value.strip()):
            raise ValueError("secrets must come from the environment: write ${VARIABLE_NAME}")
        return value


class EmailChannel(ChannelBase):
    """SMTP email."""

    type: Literal["email"]
    host: str = Field(description="SMTP host, e.g. ${DUBAN_SMTP_HOST}.")
    port: str = Field("25", description="SMTP port.")
    user: str | None = Field(None, description="Login user.")
    password: str | None = Field(None, description="Login password (from the environment).")
    sender: str = Field(description="From address, e.g. ${DUBAN_SMTP_FROM}.")
    tls: str = Field("none", description="none, starttls or tls (implicit).")


class RobotChannel(ChannelBase):
    """A work-chat group robot (WeCom, DingTalk, Feishu)."""

    type: Literal["wecom", "dingtalk", "feishu"]
    webhook_url: str = Field(description="The robot's webhook address.")
    secret: str | None = Field(None, description="Signing secret (DingTalk, Feishu).")

    @model_validator(mode="after")
    def _wecom_is_unsigned(self) -> RobotChannel:
        if self.type == "wecom" and self.secret is not None:
            raise ValueError("WeCom group robots are not signed: remove 'secret'")
        return self


class WeComAppChannel(ChannelBase):
    """WeCom (企业微信) application messages to each person's userid; 政务微信 by api_base."""

    type: Literal["wecom_app"]
    corp_id: str = Field(description="CorpID, e.g. ${DUBAN_WECOM_CORP_ID}.")
    agent_id: str = Field(description="The app's AgentId, e.g. ${DUBAN_WECOM_AGENT_ID}.")
    secret: str = Field(description="The app's Secret (from the environment).")
    api_base: str = Field("https://qyapi.weixin.qq.com", description="API host.")


class DingTalkWorkChannel(ChannelBase):
    """DingTalk (钉钉) work notifications to each person's userid."""

    type: Literal["dingtalk_work"]
    app_key: str = Field(description="AppKey, e.g. ${DUBAN_DINGTALK_APP_KEY}.")
    app_secret: str = Field(description="AppSecret (from the environment).")
    agent_id: str = Field(description="The app's AgentId, e.g. ${DUBAN_DINGTALK_AGENT_ID}.")
    api_base: str = Field("https://oapi.dingtalk.com", description="API host.")


class FeishuAppChannel(ChannelBase):
    """Feishu (飞书) app messages to each person's open_id."""

    type: Literal["feishu_app"]
    app_id: str = Field(description="App ID, e.g. ${DUBAN_FEISHU_APP_ID}.")
    app_secret: str = Field(description="App Secret (from the environment).")
    api_base: str = Field("https://open.feishu.cn", description="API host.")


class SmsBase(ChannelBase):
    """Settings every SMS provider has; SMS is template-only."""

    templates: dict[str, SmsTemplate] = Field(
        description="'kind' or 'kind.action' → provider template; 'default' as a fallback."
    )


class AliyunSmsChannel(SmsBase):
    """Alibaba Cloud SMS (SendSms)."""

    type: Literal["aliyun_sms"]
    endpoint: str = Field("https://dysmsapi.aliyuncs.com/", description="API endpoint.")
    access_key_id: str = Field(description="AccessKeyId.")
    access_key_secret: str = Field(description="AccessKeySecret (from the environment).")
    sign_name: str = Field(description="SMS signature name (签名).")


class TencentSmsChannel(SmsBase):
    """Tencent Cloud SMS (SendSms, API 3.0)."""

    type: Literal["tencent_sms"]
    endpoint: str = Field("https://sms.tencentcloudapi.com/", description="API endpoint.")
    secret_id: str = Field(description="SecretId.")
    secret_key: str = Field(description="SecretKey (from the environment).")
    app_id: str = Field(description="SmsSdkAppId.")
    sign_name: str = Field(description="SMS signature name (签名).")


class SmsGatewayChannel(SmsBase):
    """A generic HTTP SMS gateway."""

    type: Literal["sms_gateway"]
    url: str = Field(description="Gateway address.")
    token: str = Field(description="Bearer token (from the environment).")


class WebhookChannel(ChannelBase):
    """A generic signed webhook for other systems."""

    type: Literal["webhook"]
    url: str = Field(description="Receiver address.")
    secret: str = Field(description="HMAC secret (from the environment).")


Channel = Annotated[
    EmailChannel
    | RobotChannel
    | WeComAppChannel
    | DingTalkWorkChannel
    | FeishuAppChannel
    | AliyunSmsChannel
    | TencentSmsChannel
    | SmsGatewayChannel
    | WebhookChannel,
    Field(discriminator="type"),
]


# The documented send limits, applied when channels.yaml does not set them: WeCom and
# DingTalk group robots 20 messages/minute; Feishu custom bots 100/minute, 5/second;
# Feishu's message API 1000/minute, 50/second per app; DingTalk work notifications 5000
# recipients/minute. WeCom app messages have per-person and per-day caps only.
DEFAULT_RATES: dict[str, tuple[int | None, int | None]] = {
    "wecom": (20, None),
    "dingtalk": (20, None),
    "feishu": (100, 5),
    "feishu_app": (1000, 50),
    "dingtalk_work": (5000, None),
}


def rate_limits(channel: ChannelBase) -> tuple[int | None, int | None]:
    """(per minute, per second) for a channel: its own settings, else its type's defaults."""
    kind = getattr(channel, "type", "")
    minute, second = DEFAULT_RATES.get(kind, (None, None))
    return (channel.rate_per_minute or minute, channel.rate_per_second or second)


class ChannelsFile(Strict):
    """The whole of channels.yaml."""

    channels: dict[str, Channel] = Field(min_length=1, description="Name → channel settings.")
    routing: Routing = Field(description="Which channels to try, in which order.")

    def types(self) -> dict[str, str]:
        """Channel name → channel type."""
        return {name: c.type for name, c in self.channels.items()}


def unset_variables(channel: ChannelBase, env: Mapping[str, str]) -> list[str]:
    """Environment variables a channel reads that are unset (and have no default)."""
    missing = []
    for value in channel.model_dump(exclude={"templates"}).values():
        if isinstance(value, str):
            missing += [
                n for n in env_names(value) if expand(value, env) is None and not env.get(n)
            ]
    return missing
