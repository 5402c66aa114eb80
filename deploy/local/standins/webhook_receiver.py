"""Fake receiver of duban's generic signed webhook: ``POST /hook``.

Verifies: JSON content type; ``X-Duban-Delivery`` present; ``X-Duban-Timestamp`` an
integer within 300 s of the fake's clock; ``X-Duban-Signature`` equal to
``sha256=`` + hex(HMAC-SHA256(secret, f"{timestamp}.{raw body}")), recomputed here
from that definition; the body a JSON value.  401 on any signature/timestamp
problem, 400 on a bad body, 200 ``{"ok": true}`` with ``X-Request-Id`` otherwise.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from ._base import FakeJsonEndpoint
from ._crypto import rfc2104_hmac

PATH = "/hook"


class FakeWebhookReceiver(FakeJsonEndpoint):
    path = PATH

    def __init__(self, *, secret: str = "webhook-test-secret", **kw: Any) -> None:
        super().__init__(**kw)
        self.secret = secret

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        h = request.headers
        delivery = h.get("X-Duban-Delivery")
        if not delivery:
            raise self._bad("missing X-Duban-Delivery", 400)
        try:
            ts = int(h.get("X-Duban-Timestamp", ""))
        except ValueError:
            raise self._bad("bad timestamp", 401) from None
        if abs(self.clock() - ts) > 300:
            raise self._bad("stale timestamp", 401)
        mac = rfc2104_hmac("sha256", self.secret.encode("utf-8"), f"{ts}.".encode() + body)
        if h.get("X-Duban-Signature") != "sha256=" + mac.hex():
            raise self._bad("signature mismatch", 401)
        if request.content_type != "application/json":
            raise self._bad("content type", 415)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._bad("body is not JSON", 400) from None
        return {"delivery": delivery, "timestamp": ts, "payload": payload}

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({"ok": True}, headers={"X-Request-Id": str(uuid.uuid4())})
