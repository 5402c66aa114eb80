"""Fake DingTalk (钉钉) custom robot: ``POST /robot/send?access_token=T[&timestamp&sign]``.

Verifies: method POST, path, ``access_token``; when a secret is configured, the
``timestamp`` (milliseconds, within one hour of the fake's clock) and the ``sign``
recomputed from the documented algorithm — base64(HMAC-SHA256(key=secret,
msg=f"{timestamp}\\n{secret}")), URL-decoded from the query; JSON content type;
``msgtype`` text (``text.content``) or markdown (``markdown.title`` +
``markdown.text``); ``at.atMobiles`` list of strings and ``at.isAtAll`` boolean;
optional security keywords.  Answers HTTP 200 ``{"errcode": ..., "errmsg": ...}``.

Each accepted record is the JSON body plus ``"_mentioned"``: the mobiles and userids
DingTalk would actually notify (listed in ``at.atMobiles`` / ``at.atUserIds`` *and*
present as ``@<mobile>`` / ``@<userid>`` in the text — DingTalk's documented rule for
mentions to render; ``"@all"`` with ``isAtAll``), and ``"_not_mentioned"``: the listed
ones that would not be (see ``_mentions.py``).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from aiohttp import web

from ._base import FakeErrcodeRobot, Rejected, json_response
from ._crypto import rfc2104_hmac
from ._mentions import ANY_MOBILE, Mentions, string_list

PATH = "/robot/send"
_USERID = re.compile(r"[^\s@]{1,64}")
_MESSAGES = {
    -1: "系统繁忙",
    130101: "send too fast, exceed 20 times per minute",
    410100: "发送速度太快而限流",
    300001: "token is not exist",
    310000: "sign not match",
    400105: "不支持的消息类型",
    430102: "含有不合适的文本",
}


def _answer(code: int, text: str | None = None) -> web.Response:
    msg = "ok" if code == 0 else (text or _MESSAGES.get(code, "error"))
    return json_response({"errcode": code, "errmsg": msg})


def _content_of(data: dict[str, Any]) -> str | None:
    msgtype = data.get("msgtype")
    part = data.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(part, dict):
        return None
    if msgtype == "text":
        content = part.get("content")
        return content if isinstance(content, str) and content else None
    if msgtype == "markdown":
        title, text = part.get("title"), part.get("text")
        if isinstance(title, str) and title and isinstance(text, str) and text:
            return f"{title}\n{text}"
    return None


def _mentions(at: object, content: str) -> Mentions:
    """``at.atMobiles`` (mobiles) and ``at.atUserIds`` (userids) are lists of strings and
    ``at.isAtAll`` a boolean; one counts only when ``@<it>`` is also in the text."""
    try:
        if not isinstance(at, dict) or not isinstance(at.get("isAtAll", False), bool):
            raise TypeError("not an object with a boolean isAtAll")
        mobiles = string_list(at.get("atMobiles")) or []
        userids = string_list(at.get("atUserIds")) or []
    except TypeError as e:
        raise Rejected(_answer(400105, "at 参数错误"), f"bad at block: {e}") from None
    found = Mentions()
    if at.get("isAtAll"):
        found.mentioned.append("@all")
    for value, form in [*((m, ANY_MOBILE) for m in mobiles), *((u, _USERID) for u in userids)]:
        if re.search(rf"@{re.escape(value)}(?![\w.\-])", content):
            found.take(value, form)
        else:
            found.not_mentioned.append(value)
    return found


class FakeDingTalk(FakeErrcodeRobot):
    default_failure_code = 130101
    answer = staticmethod(_answer)

    def __init__(
        self,
        *,
        access_token: str = "dingtalk-test-token",
        secret: str | None = "SECdingtalk-test-secret",
        keywords: tuple[str, ...] = (),
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.access_token = access_token
        self.secret = secret
        self.keywords = keywords

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{PATH}?access_token={self.access_token}"

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", PATH)]

    def _check_sign(self, request: web.Request) -> None:
        if self.secret is None:
            return
        ts_text, sign = request.query.get("timestamp"), request.query.get("sign")
        if not ts_text or not sign:
            raise Rejected(_answer(310000, "sign not match, timestamp/sign missing"), "no sign")
        try:
            ts_ms = int(ts_text)
        except ValueError:
            raise Rejected(_answer(310000, "invalid timestamp"), "timestamp not int") from None
        if abs(self.clock() * 1000 - ts_ms) > 3600 * 1000:
            raise Rejected(_answer(310000, "invalid timestamp"), "timestamp too old/new")
        string_to_sign = ts_text + "\n" + self.secret
        expected = base64.b64encode(
            rfc2104_hmac("sha256", self.secret.encode("utf-8"), string_to_sign.encode("utf-8"))
        ).decode("ascii")
        if sign != expected:
            raise Rejected(_answer(310000, "sign not match"), "signature mismatch")

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        if request.query.get("access_token") != self.access_token:
            raise Rejected(_answer(300001), "unknown access_token")
        self._check_sign(request)
        if request.content_type != "application/json":
            raise Rejected(
                _answer(400105, "请求体格式错误"), f"content type {request.content_type}"
            )
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Rejected(_answer(400105, "请求体格式错误"), "body is not UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise Rejected(_answer(400105), "body is not an object")
        content = _content_of(data)
        if content is None:
            raise Rejected(_answer(400105), f"bad {data.get('msgtype')!r} message")
        found = _mentions(data.get("at", {}), content)
        if self.keywords and not any(k in content for k in self.keywords):
            raise Rejected(_answer(310000, "keywords not in content"), "no keyword")
        return found.record(data)
