"""WeCom (企业微信) group robot webhook.

``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with a JSON body;
the answer is HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}`` or a non-zero
``errcode``.

Message type choice (documented behaviour): a group post @-mentions everyone it
concerns (``mentions``, see :mod:`.mentions`; also ``at_mobiles``), each by WeCom
userid when known, else by mobile.  Only ``msgtype=text`` takes ``mentioned_list`` /
``mentioned_mobile_list``; ``markdown`` can @ by userid alone, written ``<@userid>`` in
its content.  So:

* someone can only be mentioned by mobile → ``text`` (the plain-text body) with
  ``mentioned_list`` for the userids and ``mentioned_mobile_list`` for the mobiles:
  the mention is the point of the post, the formatting is not;
* otherwise ``markdown`` if the message has a markdown body, with a last line of
  ``<@userid>`` tags for whoever has a userid; else ``text``.

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
from .mentions import Mentioning, wecom_targets

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


def inert_tags(text: str) -> str:
    """Plain text that cannot @ anyone: WeCom reads ``<@userid>`` (``<@all>`` too) in a
    text message's content, and the text carries event data (a hazard's title, say)
    as it came.  Mentions travel in ``mentioned_list`` instead."""
    return text.replace("<@", "＜@")


class WeComChannel(HttpChannel[WeComSettings]):
    family: Family = "chat"
    text_for_mentions = True
    default_name = "wecom"

    def sends_text(self, mentioning: Mentioning) -> bool:
        """Whether a message @-mentioning these people goes out as plain text whatever
        its markdown says: someone can only be mentioned by mobile (base.SENDS_TEXT)."""
        return bool(wecom_targets(mentioning).mobiles)

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        targets = wecom_targets(message)
        if targets.mobiles or not message.markdown:
            content = inert_tags(with_title(message.subject, message.text, markdown=False))
            text: dict[str, Any] = {"content": utf8_truncate(content, TEXT_MAX_BYTES)}
            if targets.userids:
                text["mentioned_list"] = list(targets.userids)
            if targets.mobiles:
                text["mentioned_mobile_list"] = list(targets.mobiles)
            return {"msgtype": "text", "text": text}
        content = with_title(message.subject, message.markdown, markdown=True)
        # The mentions go last and are never cut: the cut falls in the body above them.
        tags = " ".join(f"<@{userid}>" for userid in targets.userids)
        budget = MARKDOWN_MAX_BYTES - (len(tags.encode("utf-8")) + 2 if tags else 0)
        content = utf8_truncate(content, budget)
        return {
            "msgtype": "markdown",
            "markdown": {"content": f"{content}\n\n{tags}" if tags else content},
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
