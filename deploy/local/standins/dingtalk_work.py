"""Fake DingTalk (钉钉) work notifications: ``GET /gettoken`` and
``POST /topapi/message/corpconversation/asyncsend_v2?access_token=TOKEN``.

Token: ``appkey`` and ``appsecret`` in the query (40089 missing or wrong) →
``{"errcode": 0, "access_token", "expires_in"}``; asked again while a token lives, the
same token, its life extended (as DingTalk documents).

Send, checked as DingTalk documents it: the ``access_token`` parameter (41001 missing;
an unknown one answered as the topapi gateway does, errcode 88 with ``sub_code``
40014; 42001 expired); a JSON body (or a form with ``msg`` as a JSON string; 43004 for
another content type, 40035 for a malformed one); ``agent_id`` the app's id as a number
(41011 missing, 40056 wrong); ``userid_list`` a comma-separated string of at most 100
userids (40031); ``msg`` at most 2048 bytes of JSON (40035) of type text, markdown or
action_card (40008) with its fields — action_card a ``title``, ``markdown`` and either
``single_title`` + ``single_url`` or ``btn_json_list`` of ``{title, action_url}``.

Answers ``{"errcode": 0, "errmsg": "ok", "task_id": …, "request_id": …}``: the send is
asynchronous. Userids the app cannot reach are listed in the record's ``"_invalid"`` and
get nothing; as DingTalk documents, the same content to the same person again within a
day is accepted and filtered (``"_filtered"``), not delivered twice.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from ._apps import FakeWorkApp, canonical, is_int, is_text, json_object_of
from ._base import InjectedFailure, Rejected, json_response

TOKEN_PATH = "/gettoken"
SEND_PATH = "/topapi/message/corpconversation/asyncsend_v2"
MSG_MAX_BYTES = 2048
MAX_USERS = 100
SAME_CONTENT_WINDOW_S = 86400.0
_MESSAGES = {
    -1: "系统繁忙",
    40008: "不合法的消息类型",
    40014: "不合法的access_token",
    40031: "不合法的UserID列表",
    40035: "不合法的参数",
    40056: "不合法的agentid",
    40089: "不合法的corpid或corpsecret",
    41001: "缺少access_token参数",
    41011: "缺少agentid",
    42001: "access_token超时",
    43004: "无效的HTTP HEADER Content-Type",
    90002: "您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了",
}


def answer(code: int, text: str | None = None, **extra: Any) -> web.Response:
    msg = "ok" if code == 0 else (text or _MESSAGES.get(code, "error"))
    return json_response({"errcode": code, "errmsg": msg, **extra})


def _reject(code: int, reason: str) -> Rejected:
    return Rejected(answer(code), reason)


def _auth_refused(sub_code: int) -> Rejected:
    """How the topapi gateway answers a token it does not know: errcode 88 + sub_code."""
    sub = _MESSAGES[sub_code]
    body = {
        "errcode": 88,
        "sub_code": str(sub_code),
        "sub_msg": sub,
        "errmsg": f"ding talk error[subcode={sub_code},submsg={sub}]",
        "request_id": uuid.uuid4().hex[:12],
    }
    return Rejected(json_response(body), f"access_token refused ({sub_code})")


def _valid_msg(msg: dict[str, Any]) -> bool:
    msgtype = msg.get("msgtype")
    part = msg.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(part, dict):
        return False
    if msgtype == "text":
        return is_text(part.get("content"))
    if msgtype == "markdown":
        return is_text(part.get("title")) and is_text(part.get("text"))
    if msgtype == "action_card":
        single = is_text(part.get("single_title")) and is_text(part.get("single_url"))
        buttons = part.get("btn_json_list")
        listed = isinstance(buttons, list) and all(
            isinstance(b, dict) and is_text(b.get("title")) and is_text(b.get("action_url"))
            for b in buttons
        )
        return is_text(part.get("title")) and is_text(part.get("markdown")) and (single or listed)
    return False


class FakeDingTalkWork(FakeWorkApp):
    token_method = "GET"
    token_path = TOKEN_PATH

    def __init__(
        self,
        *,
        app_key: str = "ding-test-appkey",
        app_secret: str = "dingtalk-app-test-secret",
        agent_id: int = 2000001,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.app_key = app_key
        self.app_secret = app_secret
        self.agent_id = agent_id
        self._sent: dict[tuple[str, str], float] = {}  # (userid, msg) → when delivered

    def routes(self) -> list[tuple[str, str]]:
        return [("GET", TOKEN_PATH), ("POST", SEND_PATH)]

    async def check_credentials(self, request: web.Request, body: bytes) -> None:
        key, secret = request.query.get("appkey"), request.query.get("appsecret")
        if key != self.app_key or secret != self.app_secret:
            raise _reject(40089, "wrong or missing appkey / appsecret")

    def grant(self, now: float) -> tuple[str, float]:
        live = self.live_token(now)
        if live is None:
            return self.new_token(now)
        self.tokens[live[0]] = now + self.token_ttl_s  # extended
        return live[0], self.token_ttl_s

    def token_answer(self, value: str, lasts: float) -> web.StreamResponse:
        return answer(0, access_token=value, expires_in=int(lasts))

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        state = self.token_state(request.query.get("access_token"))
        if state == "missing":
            raise _reject(41001, "access_token missing")
        if state == "unknown":
            raise _auth_refused(40014)
        if state == "expired":
            raise _reject(42001, "access_token expired")
        data = self._body(request, body)
        if "agent_id" not in data:
            raise _reject(41011, "agent_id missing")
        if not is_int(data["agent_id"]) or data["agent_id"] != self.agent_id:
            raise _reject(40056, f"agent_id {data['agent_id']!r}")
        users = data.get("userid_list")
        if not is_text(users) or len(str(users).split(",")) > MAX_USERS:
            raise _reject(40031, "userid_list not a comma-separated string of ≤100 ids")
        msg = data.get("msg")
        if not isinstance(msg, dict):
            raise _reject(40035, "msg missing")
        compact = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
        if len(compact.encode("utf-8")) > MSG_MAX_BYTES:
            raise _reject(40035, "msg longer than 2048 bytes")
        if not _valid_msg(msg):
            raise _reject(40008, f"bad {msg.get('msgtype')!r} msg")
        return data

    @staticmethod
    def _body(request: web.Request, body: bytes) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = json_object_of(body)
        elif request.content_type == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            data = dict(form)
            for name in ("msg", "agent_id"):
                if name in data:
                    try:
                        data[name] = json.loads(data[name])
                    except ValueError:
                        data = None
                        break
        else:
            raise _reject(43004, f"content type {request.content_type}")
        if data is None:
            raise _reject(40035, "malformed body")
        return data

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        now = self.clock()
        users = [u.strip() for u in str(record["userid_list"]).split(",") if u.strip()]
        content = canonical(record["msg"])
        record["_invalid"] = [u for u in users if not self.knows(u)]
        record["_filtered"] = []
        for user in users:
            if not self.knows(user):
                continue
            sent = self._sent.get((user, content))
            if sent is not None and now - sent < SAME_CONTENT_WINDOW_S:
                record["_filtered"].append(user)
                continue
            self._sent[(user, content)] = now
            self.delivered.append({"to": user, **record["msg"]})
        return answer(0, task_id=self.next_id(), request_id=uuid.uuid4().hex[:12])

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        if failure.status is not None and failure.status != 200:
            return self.http_error(failure.status)
        code = int(failure.code if failure.code is not None else 90002)
        return answer(code, failure.message, **failure.extra)  # extra: e.g. sub_code
