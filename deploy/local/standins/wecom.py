"""Fake WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY``.

Verifies: method POST, path, ``key`` query parameter, JSON content type, a JSON
object body, ``msgtype`` text/markdown with a non-empty ``content`` within the
documented byte limits (text 2048, markdown 4096), ``mentioned_mobile_list`` /
``mentioned_list`` being lists of strings.  Answers HTTP 200 with
``{"errcode": ..., "errmsg": ...}`` like WeCom.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from ._base import FakeErrcodeRobot, Rejected, json_response

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
        for list_field in ("mentioned_list", "mentioned_mobile_list"):
            value = part.get(list_field)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                raise self._reject(40058, f"{list_field} is not a list of strings")
        return data
