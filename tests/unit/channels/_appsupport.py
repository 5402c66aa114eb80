"""Helpers shared by the work-chat app adapter tests."""

from __future__ import annotations

from typing import Any

from services.notifier.channels.base import OutboundMessage
from tests.providers import sample_message

ACK_URL = "https://duban.example.gov.cn/ack?t=signed-token"
START = 1_788_000_000.0  # a Unix time in 2026


class Clock:
    """Unix time that moves only when the test says; shared by a channel and its stand-in."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def app_message(**overrides: Any) -> OutboundMessage:
    """The sample reminder addressed to the same person on all three platforms."""
    fields: dict[str, Any] = {
        "to_wecom_userid": "ZhangSan",
        "to_dingtalk_userid": "manager4471",
        "to_feishu_open_id": "ou_7d8a6e6df7621556ce0d21922b676706",
        "ack_url": ACK_URL,
    }
    return sample_message(**{**fields, **overrides})
