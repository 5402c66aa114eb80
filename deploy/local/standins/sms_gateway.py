"""Fake generic HTTP SMS gateway: ``POST /sms/send``.

Verifies: ``Authorization: Bearer <token>`` (401 otherwise), JSON content type, a
JSON object with ``mobile`` (11-digit mainland mobile), ``template`` (non-empty
string), ``params`` (object of strings) and ``request_id`` (non-empty string) — 400
otherwise.  ``request_id`` is honoured as an idempotency key: a repeated id is
answered with the first id and not recorded twice.  Success: HTTP 200
``{"id": ..., "status": "queued"}``.  ``fail_next(status=...)`` answers that status
(``retry_after=`` adds a ``Retry-After`` header).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from ._base import FakeJsonEndpoint, Rejected, json_response

PATH = "/sms/send"
_MOBILE = re.compile(r"1[3-9]\d{9}")


class FakeSmsGateway(FakeJsonEndpoint):
    path = PATH

    def __init__(self, *, token: str = "gateway-test-token", **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token
        self.ids: dict[str, str] = {}

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise self._bad("unauthorized", 401)
        if request.content_type != "application/json":
            raise self._bad("content type must be application/json", 415)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._bad("body is not JSON") from None
        if not isinstance(data, dict):
            raise self._bad("body is not an object")
        if not isinstance(data.get("mobile"), str) or not _MOBILE.fullmatch(data["mobile"]):
            raise self._bad("invalid mobile")
        if not isinstance(data.get("template"), str) or not data["template"]:
            raise self._bad("template required")
        params = data.get("params")
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise self._bad("params must be an object of strings")
        if not isinstance(data.get("request_id"), str) or not data["request_id"]:
            raise self._bad("request_id required")
        if data["request_id"] in self.ids:  # idempotent replay: answer, do not record
            raise Rejected(
                json_response({"id": self.ids[data["request_id"]], "status": "duplicate"}),
                "duplicate request_id",
            )
        return data

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        msg_id = f"gw-{len(self.ids) + 1}"
        self.ids[record["request_id"]] = msg_id
        return json_response({"id": msg_id, "status": "queued"})
