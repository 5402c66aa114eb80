"""WeCom (企业微信) application messages to one person; 政务微信 by its own API host.

Token: ``GET {api_base}/cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`` →
``{"errcode": 0, "access_token": "…", "expires_in": 7200}``. Send:
``POST {api_base}/cgi-bin/message/send?access_token=TOKEN`` with ``touser`` (the person's
userid), ``agentid`` and one message type:

* a ``textcard`` (title ≤128 bytes, description ≤512 bytes, a link and a button of at
  most four characters, "查看确认") when the notice has an acknowledgement page;
* else ``markdown`` (≤2048 bytes).

Every send asks WeCom's duplicate check (``enable_duplicate_check``): the same request
body again within ``duplicate_check_s`` is not shown twice, so a resend after a timeout
is harmless (the body is built from one rendering, so it is identical).

The answer is HTTP 200 with ``errcode``; an accepted send may still name the person in
``invaliduser`` (not in the app's visible range) or ``unlicenseduser``: then it reached
nobody, and that is permanent for this person. Codes: 40014 / 42001 / 41001 / 40001
(token invalid or expired) → new token, sent once more; -1 (busy), 45009 (frequency,
60 s), 45033 (concurrency) → retryable; 81013 / 82001 / 40003 / 40031 / 60111 / 50002
(no such user, or outside the app's range) and everything else → permanent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ._answers import json_object, provider_error, unexpected_answer, utf8_truncate
from ._http import HttpAnswer
from ._workapp import WorkAppChannel, errcode_of, errcode_token, summary, title_of
from .apptoken import Issued, app_id
from .base import DeliveryError, OutboundMessage, SendResult
from .wecom import with_title

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
CARD_BUTTON = "查看确认"  # WeCom cuts btntxt to 4 characters
TITLE_MAX_BYTES = 128
DESCRIPTION_MAX_BYTES = 512
MARKDOWN_MAX_BYTES = 2048
TOKEN_CODES = frozenset({40014, 42001, 41001, 40001})
_RETRY_AFTER_S = {-1: None, 45009: 60.0, 45033: 1.0}


@dataclass(frozen=True)
class WeComAppSettings:
    corp_id: str
    agent_id: int
    secret: str = field(repr=False)
    """The app's Secret (each app has its own)."""
    api_base: str = DEFAULT_API_BASE
    """``https://qyapi.weixin.qq.com``, or a 政务微信 / private deployment's host."""
    timeout_s: float = 10.0
    duplicate_check_s: int = 1800
    """WeCom drops the same request body again within this many seconds."""


class WeComAppChannel(WorkAppChannel[WeComAppSettings]):
    default_name = "wecom_app"
    recipient_field = "to_wecom_userid"
    provider = "WeCom"

    def app(self) -> str:
        s = self.settings
        return app_id("wecom_app", s.api_base, s.corp_id, s.secret)

    def _url(self, path: str, **query: str) -> str:
        return f"{self.settings.api_base.rstrip('/')}{path}?{urlencode(query)}"

    async def fetch_token(self) -> Issued:
        s = self.settings
        answer = await self._http.get(
            self._url("/cgi-bin/gettoken", corpid=s.corp_id, corpsecret=s.secret)
        )
        return errcode_token(answer, self.name, _RETRY_AFTER_S)

    def build_body(self, message: OutboundMessage, to: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "touser": to,
            "agentid": self.settings.agent_id,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": self.settings.duplicate_check_s,
        }
        if message.ack_url:
            card = {
                "title": title_of(message, TITLE_MAX_BYTES),
                "description": _plain(summary(message, DESCRIPTION_MAX_BYTES)),
                "url": message.ack_url,
                "btntxt": CARD_BUTTON,
            }
            return {**body, "msgtype": "textcard", "textcard": card}
        content = with_title(message.subject, message.markdown or message.text, markdown=True)
        markdown = {"content": utf8_truncate(content, MARKDOWN_MAX_BYTES)}
        return {**body, "msgtype": "markdown", "markdown": markdown}

    async def post(self, token: str, body: dict[str, Any]) -> HttpAnswer:
        return await self._http.post_json(
            self._url("/cgi-bin/message/send", access_token=token), body
        )

    def code_of(self, answer: HttpAnswer) -> tuple[object, str]:
        return errcode_of(answer)

    def token_refused(self, answer: HttpAnswer) -> bool:
        code, _ = errcode_of(answer)
        return code in TOKEN_CODES

    def judge(self, answer: HttpAnswer, to: str) -> SendResult:
        data = json_object(answer)
        code, errmsg = errcode_of(answer)
        if answer.status_code != 200 or data is None or code is None:
            raise unexpected_answer(answer, channel=self.name)
        if code != 0:
            raise wecom_error(code, errmsg, self.name)
        for listed in ("invaliduser", "unlicenseduser"):
            names = {u.lower() for u in str(data.get(listed) or "").split("|")}
            if to.lower() in names:
                raise DeliveryError(
                    f"WeCom accepted the send but reached nobody: the userid is in {listed} "
                    "(unknown, outside the app's visible range, or without a license)",
                    retryable=False,
                    provider_code=listed,
                    channel=self.name,
                )
        msgid = str(data.get("msgid") or "") or None
        return SendResult(provider_message_id=msgid, provider_answer=f"errcode=0 {errmsg}")


def wecom_error(code: object, errmsg: str, channel: str) -> DeliveryError:
    """The error for a refused send: busy and frequency codes retryable, the rest not."""
    retryable = isinstance(code, int) and code in _RETRY_AFTER_S
    return provider_error(
        "WeCom errcode",
        code,
        errmsg,
        retryable=retryable,
        retry_after_s=_RETRY_AFTER_S.get(code) if isinstance(code, int) else None,
        channel=channel,
    )


def _plain(text: str) -> str:
    """Text for a textcard description, which WeCom reads as HTML: no tags can be forged."""
    return text.replace("<", "＜").replace(">", "＞")
