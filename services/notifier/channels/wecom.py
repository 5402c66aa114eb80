"""WeCom (企业微信) group robot webhook.

``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with a JSON body;
the answer is HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}`` or a non-zero
``errcode``.

Message type choice (documented behaviour):

* ``at_mobiles`` non-empty → ``msgtype=text`` with ``mentioned_mobile_list``.  WeCom
  ``markdown`` messages cannot @ someone by mobile (only ``<@userid>``), and the
  mention is the point of an escalation, so the plain-text body is sent instead of
  the markdown one.
* otherwise, ``markdown`` if the message has a markdown body, else ``text``.

The subject is put on the first line (as a heading for markdown) unless the body
already starts with it.  Bodies are cut to WeCom's documented limits (text 2048
bytes, markdown 4096 bytes, UTF-8) with a trailing "…" rather than being rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from ._answers import errcode_result, utf8_truncate
from ._http import HttpChannel
from .base import Family, OutboundMessage, SendResult

DEFAULT_ENDPOINT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096

# errcode → retryable.  Anything not listed is permanent.
_RETRYABLE_CODES = {
    -1,  # system busy
    45009,  # api freq out of limit (20 messages / minute / robot)
    45033,  # api concurrent out of limit
}
_RETRY_AFTER_S = {45009: 60.0}


@dataclass(frozen=True)
class WeComSettings:
    webhook_url: str = field(repr=False)
    """The full robot URL, ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...``
    (the key is a secret)."""
    timeout_s: float = 10.0

    @classmethod
    def from_key(cls, key: str, *, endpoint: str = DEFAULT_ENDPOINT, **kw: Any) -> WeComSettings:
        url = str(URL(endpoint).update_query({"key": key}))
        return cls(webhook_url=url, **kw)


def with_title(title: str, body: str, *, markdown: bool) -> str:
    """Put ``title`` on the first line of ``body`` unless it is already there."""
    title = title.strip()
    if not title or body.lstrip().lstrip("#* ").startswith(title):
        return body
    return f"**{title}**\n{body}" if markdown else f"{title}\n{body}"


class WeComChannel(HttpChannel[WeComSettings]):
    family: Family = "chat"
    text_for_mentions = True
    default_name = "wecom"

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        if message.at_mobiles or not message.markdown:
            content = with_title(message.subject, message.text, markdown=False)
            text: dict[str, Any] = {"content": utf8_truncate(content, TEXT_MAX_BYTES)}
            if message.at_mobiles:
                text["mentioned_mobile_list"] = list(message.at_mobiles)
            return {"msgtype": "text", "text": text}
        content = with_title(message.subject, message.markdown, markdown=True)
        return {
            "msgtype": "markdown",
            "markdown": {"content": utf8_truncate(content, MARKDOWN_MAX_BYTES)},
        }

    async def send(self, message: OutboundMessage) -> SendResult:
        response = await self._http.post_json(self.settings.webhook_url, self.build_body(message))
        return errcode_result(
            response,
            channel=self.name,
            provider="WeCom",
            retryable_codes=_RETRYABLE_CODES,
            retry_after_s=_RETRY_AFTER_S,
        )
