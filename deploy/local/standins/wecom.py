"""Fake WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY``.

Verifies: method POST, path, ``key`` query parameter, JSON content type, a JSON
object body, ``msgtype`` text/markdown with a non-empty ``content`` within the
documented byte limits (text 2048, markdown 4096), ``mentioned_mobile_list`` /
``mentioned_list`` being lists of strings.  Answers HTTP 200 with
``{"errcode": ..., "errmsg": ...}`` like WeCom.

Mentions (see ``_mentions.py``): on ``text``, ``mentioned_list`` holds userids (1-64
letters, digits and ``_-@.``) and ``mentioned_mobile_list`` mainland mobiles, either
may hold ``"@all"``; ``markdown`` takes no lists (they are ignored, so recorded as not
mentioned) and mentions only by ``<@userid>`` in its content, which text also takes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from ._base import FakeErrcodeRobot, Rejected, json_response
from ._mentions import CN_MOBILE, WECOM_TAG, WECOM_USERID, Mentions, string_list

PATH = "/cgi-bin/webhook/send"
_LIMITS = {"text": 2048, "markdown": 4096}
_MESSAGES = {
    -1: "system busy",
    45009: "api freq out of limit",
    93000: "invalid webhook url",
    40008: "invalid message type",
    40058: "invalid Request Parameter",
    44004: "empty content",
    45002: "content size out of limit",
}


def _errmsg(code: int, text: str | None = None) -> str:
    base = text or _MESSAGES.get(code, "error")
    return (
        f"{base}, hint: [{uuid.uuid4().int % 10**25}], from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
    )


def _answer(code: int, text: str | None = None) -> web.Response:
    return json_response({"errcode": code, "errmsg": "ok" if code == 0 else _errmsg(code, text)})


class FakeWeCom(FakeErrcodeRobot):
    default_failure_code = 45009
    answer = staticmethod(_answer)

    def __init__(self, *, key: str = "wecom-test-key", **kw: Any) -> None:
        super().__init__(**kw)
        self.key = key

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{PATH}?key={self.key}"

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", PATH)]

    def _reject(self, code: int, reason: str) -> Rejected:
        return Rejected(_answer(code), reason)

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        if request.query.get("key") != self.key:
            raise self._reject(93000, "invalid webhook key")
        if not request.content_type == "application/json":
            raise self._reject(40058, f"content type {request.content_type}")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise self._reject(40058, "body is not UTF-8 JSON") from e
        if not isinstance(data, dict):
            raise self._reject(40058, "body is not an object")
        msgtype = data.get("msgtype")
        if msgtype not in _LIMITS:
            raise self._reject(40008, f"msgtype {msgtype!r}")
        part = data.get(msgtype)
        content = part.get("content") if isinstance(part, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise self._reject(44004, "empty content")
        if len(content.encode("utf-8")) > _LIMITS[msgtype]:
            raise self._reject(45002, "content too long")
        assert isinstance(part, dict)
        return self._mentions(msgtype, part, content).record(data)

    def _mentions(self, msgtype: str, part: dict[str, Any], content: str) -> Mentions:
        """``mentioned_list`` (userids) and ``mentioned_mobile_list`` (mobiles), "@all"
        for everyone, count on text messages only; ``<@userid>`` in the content counts on
        text and markdown alike."""
        found = Mentions()
        lists = (("mentioned_list", WECOM_USERID), ("mentioned_mobile_list", CN_MOBILE))
        for list_field, form in lists:
            try:
                values = string_list(part.get(list_field))
            except TypeError:
                raise self._reject(40058, f"{list_field} is not a list of strings") from None
            for value in values or ():
                if msgtype == "text":
                    found.take(value, form, everyone="@all")
                else:  # markdown ignores the lists
                    found.not_mentioned.append(value)
        for userid in WECOM_TAG.findall(content):
            found.take("@all" if userid == "all" else userid, WECOM_USERID, everyone="@all")
        return found
