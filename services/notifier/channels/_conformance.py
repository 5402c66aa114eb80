"""Type-checking only: every adapter satisfies the Channel protocol (mypy --strict)."""

from __future__ import annotations

from .aliyun_sms import AliyunSmsChannel
from .base import Channel
from .dingtalk import DingTalkChannel
from .dingtalk_work import DingTalkWorkChannel
from .email import EmailChannel
from .feishu import FeishuChannel
from .feishu_app import FeishuAppChannel
from .sms_gateway import SmsGatewayChannel
from .tencent_sms import TencentSmsChannel
from .webhook import WebhookChannel
from .wecom import WeComChannel
from .wecom_app import WeComAppChannel


def _conforms(
    a: AliyunSmsChannel,
    b: DingTalkChannel,
    c: EmailChannel,
    d: FeishuChannel,
    e: SmsGatewayChannel,
    f: TencentSmsChannel,
    g: WebhookChannel,
    h: WeComChannel,
    i: WeComAppChannel,
    j: DingTalkWorkChannel,
    k: FeishuAppChannel,
) -> list[Channel]:
    return [a, b, c, d, e, f, g, h, i, j, k]
