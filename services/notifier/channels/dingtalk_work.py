"""DingTalk (钉钉) work notifications (工作通知) to one person; other deployments by base URL.

Token: ``GET {api_base}/gettoken?appkey=KEY&appsecret=SECRET`` →
``{"errcode": 0, "access_token": "…", "expires_in": 7200}`` (asked again while valid,
DingTalk answers the same token and extends it). Send:
``POST {api_base}/topapi/message/corpconversation/asyncsend_v2?access_token=TOKEN`` with
``agent_id``, ``userid_list`` (the person's userid) and ``msg`` (≤2048 bytes of JSON):

* an ``action_card`` (title, markdown, one button "查看并确认" to the acknowledgement
  page) when the notice has one;
* else ``markdown`` (title, text).

The markdown is cut so ``msg`` fits. The answer is ``{"errcode": 0, "task_id": …}``:
DingTalk sends asynchronously, so an accepted task is not yet a delivered message (its
result API lists users it could not reach). Codes: 40014 / 42001 / 41001, or 88 with
``sub_code`` 40014 / 42001 (token invalid or expired) → new token, sent once more;
-1 (busy) and 90001–90014 (calls temporarily blocked for frequency, 60 s) → retryable;
40003 / 60121 / 60111 (no such user) and everything else → permanent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ._answers import json_object, provider_error, unexpected_answer, utf8_truncate
from ._http import HttpAnswer, json_bytes
from ._workapp import ACK_BUTTON, WorkAppChannel, errcode_of, errcode_token, title_of
from .apptoken import Issued, app_id
from .base import DeliveryError, OutboundMessage, SendResult

DEFAULT_API_BASE = "https://oapi.dingtalk.com"
SEND_PATH = "/topapi/message/corpconversation/asyncsend_v2"
MSG_MAX_BYTES = 2048
TITLE_MAX_BYTES = 128
TOKEN_CODES = frozenset({40014, 42001, 41001})
_RETRY_AFTER_S: dict[int, float | None] = {-1: None, **{c: 60.0 for c in range(90001, 90015)}}


@dataclass(frozen=True)
class DingTalkWorkSettings:
    app_key: str
    app_secret: str = field(repr=False)
    agent_id: int
    api_base: str = DEFAULT_API_BASE
    """``https://oapi.dingtalk.com``, or another deployment's address."""
    timeout_s: float = 10.0


class DingTalkWorkChannel(WorkAppChannel[DingTalkWorkSettings]):
    default_name = "dingtalk_work"
    recipient_field = "to_dingtalk_userid"
    provider = "DingTalk"

    def app(self) -> str:
        s = self.settings
        return app_id("dingtalk_work", s.api_base, s.app_key, s.app_secret)

    def _url(self, path: str, **query: str) -> str:
        return f"{self.settings.api_base.rstrip('/')}{path}?{urlencode(query)}"

    async def fetch_token(self) -> Issued:
        s = self.settings
        url = self._url("/gettoken", appkey=s.app_key, appsecret=s.app_secret)
        return errcode_token(await self._http.get(url), self.name, _RETRY_AFTER_S)

    def build_body(self, message: OutboundMessage, to: str) -> dict[str, Any]:
        return {"agent_id": self.settings.agent_id, "userid_list": to, "msg": fitted(message)}

    async def post(self, token: str, body: dict[str, Any]) -> HttpAnswer:
        return await self._http.post_json(self._url(SEND_PATH, access_token=token), body)

    def code_of(self, answer: HttpAnswer) -> tuple[object, str]:
        code, errmsg = errcode_of(answer)
        data = json_object(answer) or {}
        if code == 88 and data.get("sub_code") is not None:  # auth failure: sub_code says which
            return _number(data["sub_code"]), str(data.get("sub_msg") or errmsg)
        return code, errmsg

    def token_refused(self, answer: HttpAnswer) -> bool:
        code, _ = self.code_of(answer)
        return code in TOKEN_CODES

    def judge(self, answer: HttpAnswer, to: str) -> SendResult:
        data = json_object(answer)
        code, errmsg = self.code_of(answer)
        if answer.status_code != 200 or data is None or code is None:
            raise unexpected_answer(answer, channel=self.name)
        if code != 0:
            known = isinstance(code, int) and code in _RETRY_AFTER_S
            raise provider_error(
                "DingTalk errcode",
                code,
                errmsg,
                retryable=known,
                retry_after_s=_RETRY_AFTER_S[code] if known and isinstance(code, int) else None,
                channel=self.name,
            )
        task = data.get("task_id")
        if task is None:
            raise DeliveryError(
                "DingTalk accepted without a task_id", retryable=True, channel=self.name
            )
        said = f"errcode=0 {errmsg}".rstrip() + " (task accepted; DingTalk sends it later)"
        return SendResult(provider_message_id=str(task), provider_answer=said)


def fitted(message: OutboundMessage) -> dict[str, Any]:
    """The ``msg`` object, its markdown cut until its JSON fits DingTalk's 2048 bytes."""
    text = message.markdown or message.text
    budget = MSG_MAX_BYTES
    for _ in range(8):
        msg = _msg(message, utf8_truncate(text, budget))
        excess = len(json_bytes(msg)) - MSG_MAX_BYTES
        if excess <= 0:
            return msg
        budget -= excess + 8  # JSON escapes make a cut count more than once
    return _msg(message, utf8_truncate(text, max(0, budget)))


def _msg(message: OutboundMessage, markdown: str) -> dict[str, Any]:
    title = title_of(message, TITLE_MAX_BYTES)
    if message.ack_url:
        card = {
            "title": title,
            "markdown": markdown,
            "single_title": ACK_BUTTON,
            "single_url": message.ack_url,
        }
        return {"msgtype": "action_card", "action_card": card}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}


def _number(value: object) -> object:
    """A ``sub_code`` as a number when it is one (DingTalk sends it as a string)."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value
