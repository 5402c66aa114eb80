"""Fake WeCom (企业微信) app messages: ``GET /cgi-bin/gettoken`` and
``POST /cgi-bin/message/send?access_token=TOKEN`` (政务微信 serves the same paths).

Token: ``corpid`` and ``corpsecret`` in the query (41002 / 41004 missing, 40013 wrong
corp id, 40001 wrong secret) → ``{"errcode": 0, "access_token", "expires_in"}``; asked
again while a token lives, the same token with its remaining seconds.

Send, checked as WeCom documents it: the ``access_token`` parameter (41001 missing,
40014 unknown, 42001 expired); a JSON object body (40058); ``agentid`` the app's id as a
number (40056); ``touser`` ``|``-separated userids, at least one of them a member the app
may reach (81013 when none is); ``msgtype`` text / markdown / textcard (40008) with its
part: text and markdown ``content`` non-empty (44004) within 2048 bytes (45002);
textcard ``title`` (≤128 bytes), ``description`` (41033 missing, ≤512 bytes), ``url``
with an http(s) scheme (40094); ``btntxt`` is cut to 4 characters as WeCom does;
``enable_duplicate_check`` 0/1 and ``duplicate_check_interval`` ≤ 4 hours (40058).

Answers ``{"errcode": 0, "errmsg": "ok", "invaliduser": "…", "msgid": "…"}``: the members
it cannot reach listed (lower-cased) in ``invaliduser``. With the duplicate check on, the
same body again within the interval is accepted with the first ``msgid`` and not
delivered again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._apps import FakeWorkApp, canonical, is_int, is_text, json_object_of, utf8_len
from ._base import InjectedFailure, Rejected, json_response

TOKEN_PATH = "/cgi-bin/gettoken"
SEND_PATH = "/cgi-bin/message/send"
_MESSAGES = {
    -1: "system busy",
    40001: "invalid credential",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40056: "invalid agentid",
    40058: "invalid Request Parameter",
    40094: "invalid url",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41033: "missing description",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    60020: "not allow to access from your ip",
    81013: "user & party & tag all invalid",
}
_PART_LIMITS = {"text": 2048, "markdown": 2048}
MAX_DUPLICATE_CHECK_S = 4 * 3600


def answer(code: int, text: str | None = None, **extra: Any) -> web.Response:
    msg = "ok" if code == 0 else (text or _MESSAGES.get(code, "error"))
    return json_response({"errcode": code, "errmsg": msg, **extra})


def _reject(code: int, reason: str) -> Rejected:
    return Rejected(answer(code), reason)


class FakeWeComApp(FakeWorkApp):
    token_method = "GET"
    token_path = TOKEN_PATH

    def __init__(
        self,
        *,
        corp_id: str = "ww-test-corp",
        secret: str = "wecom-app-test-secret",
        agent_id: int = 1000002,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self._seen: dict[str, tuple[float, str]] = {}  # body → (when, msgid)

    def routes(self) -> list[tuple[str, str]]:
        return [("GET", TOKEN_PATH), ("POST", SEND_PATH)]

    async def check_credentials(self, request: web.Request, body: bytes) -> None:
        corp, secret = request.query.get("corpid"), request.query.get("corpsecret")
        if not corp:
            raise _reject(41002, "corpid missing")
        if not secret:
            raise _reject(41004, "corpsecret missing")
        if corp != self.corp_id:
            raise _reject(40013, "wrong corpid")
        if secret != self.secret:
            raise _reject(40001, "wrong corpsecret")

    def grant(self, now: float) -> tuple[str, float]:
        live = self.live_token(now)
        if live is not None:
            return live[0], live[1] - now
        return self.new_token(now)

    def token_answer(self, value: str, lasts: float) -> web.StreamResponse:
        return answer(0, access_token=value, expires_in=int(lasts))

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        state = self.token_state(request.query.get("access_token"))
        if state != "live":
            code = {"missing": 41001, "unknown": 40014, "expired": 42001}[state]
            raise _reject(code, f"access_token {state}")
        data = json_object_of(body)
        if data is None:
            raise _reject(40058, "body is not a JSON object")
        if not is_int(data.get("agentid")) or data["agentid"] != self.agent_id:
            raise _reject(40056, f"agentid {data.get('agentid')!r}")
        touser = data.get("touser")
        if not is_text(touser):
            raise _reject(40058, "touser missing")
        if not any(self.knows(u) for u in str(touser).split("|")):
            raise _reject(81013, "no member the app can reach")
        self._check_part(data)
        self._check_duplicate_fields(data)
        return data

    def _check_part(self, data: dict[str, Any]) -> None:
        msgtype = data.get("msgtype")
        part = data.get(msgtype) if isinstance(msgtype, str) else None
        if msgtype not in ("text", "markdown", "textcard") or not isinstance(part, dict):
            raise _reject(40008, f"msgtype {msgtype!r}")
        if msgtype == "textcard":
            self._check_textcard(part)
            return
        content = part.get("content")
        if not is_text(content):
            raise _reject(44004, "empty content")
        if utf8_len(content) > _PART_LIMITS[msgtype]:
            raise _reject(45002, f"{msgtype} content too long")

    @staticmethod
    def _check_textcard(card: dict[str, Any]) -> None:
        title, description, url = card.get("title"), card.get("description"), card.get("url")
        if not is_text(title) or utf8_len(title) > 128:
            raise _reject(40058, "textcard title missing or longer than 128 bytes")
        if not is_text(description):
            raise _reject(41033, "textcard description missing")
        if utf8_len(description) > 512:
            raise _reject(45002, "textcard description longer than 512 bytes")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _reject(40094, "textcard url without http(s) scheme")
        if "btntxt" in card and not isinstance(card["btntxt"], str):
            raise _reject(40058, "btntxt not a string")

    @staticmethod
    def _check_duplicate_fields(data: dict[str, Any]) -> None:
        check = data.get("enable_duplicate_check", 0)
        interval = data.get("duplicate_check_interval", 1800)
        if check not in (0, 1) or not is_int(interval):
            raise _reject(40058, "enable_duplicate_check / duplicate_check_interval")
        if not 0 < interval <= MAX_DUPLICATE_CHECK_S:
            raise _reject(40058, "duplicate_check_interval out of range")

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        now = self.clock()
        invalid = [u.lower() for u in str(record["touser"]).split("|") if not self.knows(u)]
        extra = {"invaliduser": "|".join(invalid), "invalidparty": "", "invalidtag": ""}
        key = canonical(record)
        seen = self._seen.get(key)
        interval = record.get("duplicate_check_interval", 1800)
        if record.get("enable_duplicate_check") == 1 and seen and now - seen[0] < interval:
            return answer(0, msgid=seen[1], **extra)  # shown once already
        msgid = f"wecom-msg-{self.next_id()}"
        self._seen[key] = (now, msgid)
        self.delivered.append(self._shown(record))
        return answer(0, msgid=msgid, **extra)

    @staticmethod
    def _shown(record: dict[str, Any]) -> dict[str, Any]:
        """The message as its recipients see it (WeCom cuts a textcard's button to 4)."""
        if record.get("msgtype") != "textcard":
            return record
        card = dict(record["textcard"])
        card["btntxt"] = str(card.get("btntxt") or "详情")[:4]
        return {**record, "textcard": card}

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        if failure.status is not None and failure.status != 200:
            return self.http_error(failure.status)
        code = int(failure.code if failure.code is not None else 45009)
        return answer(code, failure.message, **failure.extra)  # extra: e.g. invaliduser
