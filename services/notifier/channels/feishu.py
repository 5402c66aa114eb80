"""Feishu / Lark (飞书) custom bot, with the "签名校验" signature.

``POST https://open.feishu.cn/open-apis/bot/v2/hook/<hook id>`` with a JSON body.

Signing (when the bot has a secret): ``timestamp`` is the current Unix time in
seconds (sent as a string); ``string_to_sign = f"{timestamp}\\n{secret}"`` is used as
the HMAC-SHA256 *key* over an empty message; ``sign = base64(digest)``.  Both go in
the body.  Feishu rejects a timestamp more than one hour away from its clock.

Message types: an ``interactive`` card (header = subject, one markdown element) when
the message has a markdown body, else a ``post`` (rich text: title = subject, one
paragraph per line of the plain text).  Feishu custom bots can only @ people by
open_id / user_id, never by mobile, so ``at_mobiles`` is ignored on this channel.

Answers: ``{"code": 0, "msg": "success", "data": {}}``; older deployments answer
``{"StatusCode": 0, "StatusMessage": "success"}``.  Both are understood.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._http import (
    HttpPoster,
    body_snippet,
    http_status_error,
    json_object,
    retry_after_seconds,
)
from .base import DeliveryError, Family, OutboundMessage, SendResult
from .masking import redact

_FREQUENCY_CODES = {11232, 9499}
_RETRYABLE_CODES = {*_FREQUENCY_CODES, 2200}  # 2200: internal error
# Permanent, among others: 19001 (param invalid / hook token invalid), 19002 (params
# error), 19021 (sign match fail or timestamp not within one hour), 19022 / 19024
# (IP not allowed / keywords not found), 19007 (bot not found / disabled).


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    digest = hmac.new(key, b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class FeishuSettings:
    webhook_url: str = field(repr=False)
    """``https://open.feishu.cn/open-apis/bot/v2/hook/<id>`` (the id is a secret)."""
    secret: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    card_template: str = "red"
    """Card header colour (Feishu template name: red, orange, blue, ...)."""
    language: str = "zh_cn"
    """Language key of ``post`` messages."""


def _is_retryable(code: int, msg: str) -> bool:
    if code == 9499 and "bad request" in msg.lower():
        # 9499 is documented as the frequency limit ("too many request"), but Feishu
        # also answers a malformed body with 9499 "Bad Request"; that one is permanent.
        return False
    return code in _RETRYABLE_CODES


class FeishuChannel:
    family: Family = "chat"

    def __init__(
        self,
        settings: FeishuSettings,
        *,
        client: httpx.AsyncClient | None = None,
        name: str = "feishu",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock
        self._http = HttpPoster(channel=name, timeout_s=settings.timeout_s, client=client)

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        body: dict[str, Any]
        if message.markdown:
            body = {
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {
                        "title": {"tag": "plain_text", "content": message.subject or "通知"},
                        "template": self.settings.card_template,
                    },
                    "elements": [{"tag": "markdown", "content": message.markdown}],
                },
            }
        else:
            paragraphs = [[{"tag": "text", "text": line}] for line in message.text.split("\n")]
            body = {
                "msg_type": "post",
                "content": {
                    "post": {
                        self.settings.language: {
                            "title": message.subject,
                            "content": paragraphs,
                        }
                    }
                },
            }
        if self.settings.secret:
            ts = int(self._clock())
            body = {"timestamp": str(ts), "sign": feishu_sign(self.settings.secret, ts), **body}
        return body

    async def send(self, message: OutboundMessage) -> SendResult:
        body = json.dumps(self.build_body(message), ensure_ascii=False).encode("utf-8")
        response = await self._http.post(
            self.settings.webhook_url,
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        data = json_object(response)
        code_value: object = None
        msg = ""
        if data is not None:
            if "code" in data:
                code_value, msg = data.get("code"), str(data.get("msg", ""))
            elif "StatusCode" in data:
                code_value, msg = data.get("StatusCode"), str(data.get("StatusMessage", ""))
        if not isinstance(code_value, int):
            if response.status_code != 200:
                raise http_status_error(response, channel=self.name, detail=body_snippet(response))
            raise DeliveryError(
                f"unexpected answer: {body_snippet(response)}",
                retryable=True,
                channel=self.name,
            )
        if code_value == 0 and response.status_code == 200:
            return SendResult(provider_message_id=None, provider_answer=f"code=0 {msg}")
        retryable = _is_retryable(code_value, msg) or (
            code_value == 0 and response.status_code >= 500
        )
        if response.status_code == 429:
            retryable = True
        raise DeliveryError(
            f"Feishu code {code_value}: {redact(msg, limit=200)}",
            retryable=retryable,
            provider_code=str(code_value),
            retry_after_s=retry_after_seconds(response) if retryable else None,
            channel=self.name,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
