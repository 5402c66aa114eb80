"""Fake Feishu / Lark custom bot: ``POST /open-apis/bot/v2/hook/<hook id>``.

Verifies: method POST, path / hook id, JSON content type and body; when a secret is
configured, ``timestamp`` (seconds, within one hour of the fake's clock) and ``sign``
recomputed from the documented algorithm — base64(HMAC-SHA256(key=f"{timestamp}\\n
{secret}", msg="")); ``msg_type`` text (``content.text``), post
(``content.post.<lang>.content``: list of paragraphs, each a list of
``{"tag": ...}`` elements) or interactive (``card`` with ``elements`` or ``body``);
mentions as the custom-bot docs write them (see ``_mentions``: text ``<at user_id=
"...">``, post ``{"tag": "at", "user_id": ...}``, card markdown ``<at id=ou_...></at>``,
recorded in ``_mentioned`` / ``_not_mentioned``); optional security keywords and IP
allow-list.  Answers like Feishu:
``{"code": 0, "data": {}, "msg": "success"}`` (``legacy=True``: ``{"Extra": null,
"StatusCode": 0, "StatusMessage": "success"}``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from ._base import FakeHttpProvider, InjectedFailure, Rejected, json_response
from ._crypto import rfc2104_hmac
from ._mentions import FEISHU_CARD_AT, FEISHU_TEXT_AT, FEISHU_USER, OPEN_ID, Mentions

PATH_PREFIX = "/open-apis/bot/v2/hook/"
_MESSAGES = {
    9499: "too many request",
    11232: "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]",
    19001: "param invalid: incoming webhook access token invalid",
    19002: "params error, msg_type need",
    19021: "sign match fail or timestamp is not within one hour from current time",
    19022: "Ip Not Allowed",
    19024: "Key Words Not Found",
}


def _texts(node: object) -> list[str]:
    """All strings inside a JSON value (for keyword checks)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def _valid_post(content: object) -> bool:
    post = content.get("post") if isinstance(content, dict) else None
    if not isinstance(post, dict) or not post:
        return False
    for lang in post.values():
        paragraphs = lang.get("content") if isinstance(lang, dict) else None
        if not isinstance(paragraphs, list):
            return False
        for paragraph in paragraphs:
            if not isinstance(paragraph, list) or not all(
                isinstance(el, dict) and isinstance(el.get("tag"), str) for el in paragraph
            ):
                return False
    return True


def _valid_message(data: dict[str, Any]) -> bool:
    msg_type = data.get("msg_type")
    if msg_type == "text":
        content = data.get("content")
        return isinstance(content, dict) and isinstance(content.get("text"), str)
    if msg_type == "post":
        return _valid_post(data.get("content"))
    if msg_type == "interactive":
        card = data.get("card")
        return isinstance(card, dict) and (
            isinstance(card.get("elements"), list) or isinstance(card.get("body"), dict)
        )
    return False


def _card_markdown(card: dict[str, Any]) -> list[str]:
    """The markdown texts of a card: ``markdown`` elements and ``lark_md`` texts."""
    found = []
    for element in card.get("elements") or (card.get("body") or {}).get("elements") or []:
        if not isinstance(element, dict):
            continue
        text = element.get("text")
        if element.get("tag") == "markdown" and isinstance(element.get("content"), str):
            found.append(element["content"])
        elif isinstance(text, dict) and text.get("tag") == "lark_md":
            found.append(str(text.get("content", "")))
    return found


def _post_at_elements(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``at`` elements of a (valid) post, in every language."""
    return [
        el
        for lang in content["post"].values()
        for paragraph in lang["content"]
        for el in paragraph
        if el["tag"] == "at"
    ]


def _mentions(data: dict[str, Any]) -> Mentions:
    """Text: ``<at user_id="ou_…|user_id|all">name</at>``; post: elements ``{"tag": "at",
    "user_id": str, "user_name"?: str}``; card markdown: ``<at id=ou_…|all></at>`` (a
    custom bot @-mentions in cards by open_id only).  A post ``at`` element of the wrong
    shape is refused (TypeError)."""
    found = Mentions()
    msg_type, content = data.get("msg_type"), data.get("content")
    if msg_type == "text" and isinstance(content, dict):
        for user in FEISHU_TEXT_AT.findall(str(content.get("text", ""))):
            found.take(user, FEISHU_USER, everyone="all")
    elif msg_type == "post" and isinstance(content, dict):
        for el in _post_at_elements(content):
            user, name = el.get("user_id"), el.get("user_name", "")
            if not isinstance(user, str) or not isinstance(name, str):
                raise TypeError("an at element needs a string user_id (and user_name)")
            found.take(user, FEISHU_USER, everyone="all")
    elif msg_type == "interactive":
        for text in _card_markdown(data["card"]):
            for user in FEISHU_CARD_AT.findall(text):
                found.take(user, OPEN_ID, everyone="all")
    return found


class FakeFeishu(FakeHttpProvider):
    def __init__(
        self,
        *,
        hook_id: str = "feishu-test-hook",
        secret: str | None = "feishu-test-secret",
        keywords: tuple[str, ...] = (),
        allowed_ips: tuple[str, ...] | None = None,
        legacy: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.hook_id = hook_id
        self.secret = secret
        self.keywords = keywords
        self.allowed_ips = allowed_ips
        self.legacy = legacy

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{PATH_PREFIX}{self.hook_id}"

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", PATH_PREFIX + "{hook_id}")]

    def _answer(self, code: int, text: str | None = None, status: int = 200) -> web.Response:
        msg = "success" if code == 0 else (text or _MESSAGES.get(code, "error"))
        if self.legacy:
            return json_response(
                {"Extra": None, "StatusCode": code, "StatusMessage": msg}, status=status
            )
        return json_response({"code": code, "data": {}, "msg": msg}, status=status)

    def _reject(self, code: int, reason: str, status: int = 200) -> Rejected:
        return Rejected(self._answer(code, status=status), reason)

    def _check_sign(self, data: dict[str, Any]) -> None:
        if self.secret is None:
            return
        ts, sign = data.get("timestamp"), data.get("sign")
        if not isinstance(ts, str | int) or not isinstance(sign, str):
            raise self._reject(19021, "timestamp/sign missing")
        try:
            ts_s = int(ts)
        except ValueError:
            raise self._reject(19021, "timestamp not an integer") from None
        if abs(self.clock() - ts_s) > 3600:
            raise self._reject(19021, "timestamp not within one hour")
        key = f"{ts_s}\n{self.secret}".encode()
        expected = base64.b64encode(rfc2104_hmac("sha256", key, b"")).decode("ascii")
        if sign != expected:
            raise self._reject(19021, "signature mismatch")

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        if request.match_info.get("hook_id") != self.hook_id:
            raise self._reject(19001, "unknown hook id")
        if self.allowed_ips is not None and request.remote not in self.allowed_ips:
            raise self._reject(19022, "ip not allowed")
        if request.content_type != "application/json":
            raise self._reject(9499, f"content type {request.content_type}", status=400)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Rejected(self._answer(9499, "Bad Request", status=400), "bad JSON") from None
        if not isinstance(data, dict):
            raise Rejected(self._answer(9499, "Bad Request", status=400), "not an object")
        self._check_sign(data)
        if not _valid_message(data):
            raise self._reject(19002, f"bad {data.get('msg_type')!r} message")
        try:
            found = _mentions(data)
        except TypeError as e:
            raise self._reject(19002, f"bad mention: {e}") from None
        if self.keywords:
            text = "\n".join(_texts(data.get("content")) + _texts(data.get("card")))
            if not any(k in text for k in self.keywords):
                raise self._reject(19024, "no keyword")
        return found.record(data)

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        return self._answer(0)

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        if failure.code is None and failure.status is not None:
            return self.http_error(failure.status)
        code = int(failure.code if failure.code is not None else 11232)
        return self._answer(code, failure.message, status=failure.status or 200)
