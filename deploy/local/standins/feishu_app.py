"""Fake Feishu (飞书) app messages: ``POST /open-apis/auth/v3/tenant_access_token/internal``
and ``POST /open-apis/im/v1/messages?receive_id_type=open_id``.

Token: a JSON body ``{"app_id", "app_secret"}`` (10003 missing or unknown app, 10014
wrong secret) → ``{"code": 0, "msg": "ok", "tenant_access_token": "t-…", "expire"}``;
asked again, the same token with its remaining seconds, or a new one once fewer than 30
minutes are left (both then stay valid), as Feishu documents.

Send, checked as Feishu documents it: ``Authorization: Bearer TOKEN`` (HTTP 400 with
99991661 missing, 99991663 unknown or expired); ``receive_id_type=open_id`` and a JSON
body (99992402 otherwise) with ``receive_id`` an open_id (``ou_…``), ``msg_type`` text,
post or interactive, ``content`` a *string* holding the message's JSON (an interactive
card with ``elements`` or ``body``) of at most 30 KB (230025), and ``uuid`` at most 50
characters; the person must be in the app's availability (230013).

Answers ``{"code": 0, "msg": "success", "data": {"message_id": "om_…", …}}``. A request
whose ``uuid`` was seen in the last hour succeeds with the first message, not delivered
again. A queued 99991400 answers HTTP 429 with ``x-ogw-ratelimit-reset``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ._apps import FakeWorkApp, is_text, json_object_of, utf8_len
from ._base import InjectedFailure, Rejected, json_response

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
SEND_PATH = "/open-apis/im/v1/messages"
CONTENT_MAX_BYTES = 30 * 1024
UUID_MAX_CHARS = 50
UUID_WINDOW_S = 3600.0
RENEW_UNDER_S = 1800.0
_MESSAGES = {
    10003: "invalid param",
    10014: "app secret invalid",
    99991400: "request trigger frequency limit",
    99991661: "Missing access token for authorization. Please make a request with token attached.",
    99991663: "Invalid access token for authorization. Please make a request with token attached.",
    99992402: "field validation failed",
    230013: "Bot has NO availability to this user.",
    230020: "This operation triggers the frequency limit.",
    230025: "The length of the message content reaches its limit.",
}


def answer(code: int, text: str | None = None, status: int = 200, **extra: Any) -> web.Response:
    msg = ("success" if code == 0 else _MESSAGES.get(code, "error")) if text is None else text
    return json_response({"code": code, "msg": msg, **extra}, status=status)


def _reject(code: int, reason: str, status: int = 400) -> Rejected:
    return Rejected(answer(code, status=status), reason)


def _valid_content(msg_type: object, content: object) -> bool:
    parsed = json_object_of(content.encode("utf-8")) if isinstance(content, str) else None
    if parsed is None:
        return False
    if msg_type == "text":
        return isinstance(parsed.get("text"), str)
    if msg_type == "post":
        return bool(parsed)
    if msg_type == "interactive":
        return isinstance(parsed.get("elements"), list) or isinstance(parsed.get("body"), dict)
    return False


class FakeFeishuApp(FakeWorkApp):
    token_method = "POST"
    token_path = TOKEN_PATH
    token_prefix = "t-"

    def __init__(
        self,
        *,
        app_id: str = "cli_test_app",
        app_secret: str = "feishu-app-test-secret",
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.app_id = app_id
        self.app_secret = app_secret
        self._uuids: dict[str, tuple[float, dict[str, Any]]] = {}  # uuid → (when, data)

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", TOKEN_PATH), ("POST", SEND_PATH)]

    async def check_credentials(self, request: web.Request, body: bytes) -> None:
        data = json_object_of(body) if request.content_type == "application/json" else None
        if data is None or not is_text(data.get("app_id")) or not is_text(data.get("app_secret")):
            raise _reject(10003, "token request without app_id / app_secret", status=400)
        if data["app_id"] != self.app_id:
            raise _reject(10003, "unknown app_id", status=400)
        if data["app_secret"] != self.app_secret:
            raise _reject(10014, "wrong app_secret", status=400)

    def grant(self, now: float) -> tuple[str, float]:
        live = self.live_token(now)
        if live is not None and live[1] - now >= RENEW_UNDER_S:
            return live[0], live[1] - now
        return self.new_token(now)

    def token_answer(self, value: str, lasts: float) -> web.StreamResponse:
        return answer(0, "ok", tenant_access_token=value, expire=int(lasts))

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        state = self.token_state(token if scheme == "Bearer" else None)
        if state == "missing":
            raise _reject(99991661, "no bearer token")
        if state != "live":
            raise _reject(99991663, f"token {state}")
        if request.query.get("receive_id_type") != "open_id":
            raise _reject(99992402, "receive_id_type is not open_id")
        data = json_object_of(body) if request.content_type == "application/json" else None
        if data is None:
            raise _reject(99992402, "body is not a JSON object")
        receive_id, content = data.get("receive_id"), data.get("content")
        if not isinstance(receive_id, str) or not receive_id.startswith("ou_"):
            raise _reject(99992402, "receive_id is not an open_id")
        uuid = data.get("uuid")
        if uuid is not None and (not isinstance(uuid, str) or len(uuid) > UUID_MAX_CHARS):
            raise _reject(99992402, "uuid longer than 50 characters")
        if not _valid_content(data.get("msg_type"), content):
            raise _reject(99992402, f"bad {data.get('msg_type')!r} content")
        if utf8_len(str(content)) > CONTENT_MAX_BYTES:
            raise _reject(230025, "content longer than 30 KB")
        if not self.knows(receive_id):
            raise _reject(230013, "the person is outside the app's availability")
        return data

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        now = self.clock()
        uuid = record.get("uuid")
        seen = self._uuids.get(uuid) if uuid else None
        if seen is not None and now - seen[0] < UUID_WINDOW_S:
            return answer(0, data=seen[1])  # sent once already: the same message
        data = {
            "message_id": f"om_{self.next_id():08d}",
            "msg_type": record["msg_type"],
            "create_time": str(int(now * 1000)),
            "chat_id": f"oc_{record['receive_id'][3:]}",
            "sender": {"id": self.app_id, "id_type": "app_id", "sender_type": "app"},
            "body": {"content": record["content"]},
        }
        if uuid:
            self._uuids[uuid] = (now, data)
        self.delivered.append({**record, "card": json.loads(record["content"])})
        return answer(0, data=data)

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        if failure.code is None and failure.status is not None:
            return self.http_error(failure.status)
        code = int(failure.code if failure.code is not None else 230020)
        if code == 99991400:
            reset = str(failure.extra.get("reset", 1))
            response = answer(code, failure.message, status=failure.status or 429)
            response.headers["x-ogw-ratelimit-reset"] = reset
            return response
        return answer(code, failure.message, status=failure.status or 400)
