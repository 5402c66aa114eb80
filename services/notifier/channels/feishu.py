"""Feishu / Lark (飞书) custom bot, with the "签名校验" signature.

``POST https://open.feishu.cn/open-apis/bot/v2/hook/<hook id>`` with a JSON body.

Signing (when the bot has a secret): ``timestamp`` is the current Unix time in
seconds (sent as a string); ``string_to_sign = f"{timestamp}\\n{secret}"`` is used as
the HMAC-SHA256 *key* over an empty message; ``sign = base64(digest)``.  Both go in
the body.  Feishu rejects a timestamp more than one hour away from its clock.

Message types: an ``interactive`` card (header = subject, one markdown element) when
the message has a markdown body, else a ``post`` (rich text: title = subject, one
paragraph per line of the plain text).  A group post @-mentions everyone it concerns
who has a Feishu open_id (``mentions``, see :mod:`.mentions`): a custom bot can @ by
open_id only, never by mobile (so ``at_mobiles`` is ignored here).  The card gets a
last markdown element of ``<at id=ou_...></at>`` tags, the post a last paragraph of
``{"tag": "at", "user_id": "ou_...", "user_name": ...}`` elements; a plain ``text``
message would write ``<at user_id="ou_...">name</at>``.

Answers: ``{"code": 0, "msg": "success", "data": {}}``; older deployments answer
``{"StatusCode": 0, "StatusMessage": "success"}``.  Both are understood.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from ._answers import json_object, provider_error, retry_after_seconds, unexpected_answer
from ._http import HttpChannel
from .base import Family, OutboundMessage, SendResult
from .mentions import Mention, feishu_targets

_FREQUENCY_CODES = {11232, 9499}
_RETRYABLE_CODES = {*_FREQUENCY_CODES, 2200}  # 2200: internal error
# Permanent, among others: 19001 (param invalid / hook token invalid), 19002 (params
# error), 19021 (sign match fail or timestamp not within one hour), 19022 / 19024
# (IP not allowed / keywords not found), 19007 (bot not found / disabled).


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    digest = hmac.digest(key, b"", hashlib.sha256)
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


def _code_and_msg(data: dict[str, Any] | None) -> tuple[object, str]:
    """The answer's code and message, from either answer format."""
    if data is not None:
        if "code" in data:
            return data.get("code"), str(data.get("msg", ""))
        if "StatusCode" in data:
            return data.get("StatusCode"), str(data.get("StatusMessage", ""))
    return None, ""


def _at_element(person: Mention) -> dict[str, str]:
    element = {"tag": "at", "user_id": person.feishu_open_id or ""}
    if person.name:
        element["user_name"] = person.name
    return element


class FeishuChannel(HttpChannel[FeishuSettings]):
    family: Family = "chat"
    default_name = "feishu"
    _last_sign: tuple[int, str] | None = None  # (second, its signature)

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        people = feishu_targets(message)
        body = self._card(message, people) if message.markdown else self._post(message, people)
        if self.settings.secret:
            ts = int(self._clock())
            body = {"timestamp": str(ts), "sign": self._sign(self.settings.secret, ts), **body}
        return body

    def _sign(self, secret: str, ts: int) -> str:
        """:func:`feishu_sign`, kept for the second it signs: every message sent in that
        second carries the same signature."""
        last = self._last_sign
        if last is None or last[0] != ts:
            last = self._last_sign = (ts, feishu_sign(secret, ts))
        return last[1]

    def _card(self, message: OutboundMessage, people: tuple[Mention, ...]) -> dict[str, Any]:
        elements = [{"tag": "markdown", "content": message.markdown}]
        if people:  # card markdown @-mentions as <at id=open_id></at>
            tags = " ".join(f"<at id={p.feishu_open_id}></at>" for p in people)
            elements.append({"tag": "markdown", "content": tags})
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": message.subject or "通知"},
                    "template": self.settings.card_template,
                },
                "elements": elements,
            },
        }

    def _post(self, message: OutboundMessage, people: tuple[Mention, ...]) -> dict[str, Any]:
        paragraphs = [[{"tag": "text", "text": line}] for line in message.text.split("\n")]
        if people:  # rich text @-mentions as {"tag": "at", "user_id": open_id}
            paragraphs.append([_at_element(p) for p in people])
        post = {"title": message.subject, "content": paragraphs}
        return {"msg_type": "post", "content": {"post": {self.settings.language: post}}}

    async def send(self, message: OutboundMessage) -> SendResult:
        response = await self._http.post_json(self.settings.webhook_url, self.build_body(message))
        code, msg = _code_and_msg(json_object(response))
        if not isinstance(code, int):
            raise unexpected_answer(response, channel=self.name)
        status = response.status_code
        if code == 0 and status == 200:
            return SendResult(provider_message_id=None, provider_answer=f"code=0 {msg}")
        # A code 0 with a 5xx, or any 429, is the gateway's trouble, not the message's.
        retryable = _is_retryable(code, msg) or (code == 0 and status >= 500) or status == 429
        raise provider_error(
            "Feishu code",
            code,
            msg,
            retryable=retryable,
            retry_after_s=retry_after_seconds(response),
            channel=self.name,
        )
