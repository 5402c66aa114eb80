"""The acknowledgement endpoint: GET /ack?t=TOKEN checks the link, publishes the ack."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

from aiohttp import web
from faststream.kafka import KafkaBroker

from contracts.notice import NoticeAcknowledged
from contracts.registry import make_event
from services.ack.token import InvalidToken, verify
from services.clock import Clock, SystemClock
from services.settings import Settings

log = logging.getLogger("duban.ack")
ACK_SOURCE = "urn:duban:ack"
_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>督办确认</title><body style="font-family:sans-serif;margin:3em">
<h2>{title}</h2><p>{text}</p></body></html>"""


@dataclass
class AckService:
    """Verifies acknowledgement links and publishes the acknowledgement."""

    broker: KafkaBroker
    secret: bytes
    topic: str
    clock: Clock

    async def handle(self, request: web.Request) -> web.Response:
        """GET /ack?t=…: 200 and a confirmation page, or 403 for a bad or expired link."""
        token = request.query.get("t", "")
        now = self.clock.now()
        try:
            claim = verify(self.secret, token, int(now.timestamp()))
        except InvalidToken as e:
            log.info("acknowledgement refused: %s", e.reason)
            return _page(403, "链接无效或已过期", "请联系安委办。")
        # Same token, same event id: clicking twice is a duplicate the engine ignores.
        event_id = hashlib.sha256(token.encode()).hexdigest()[:32]
        data = NoticeAcknowledged(
            notice_id=claim.notice_id, person_id=claim.person_id, acknowledged_at=now
        )
        event = make_event(
            "notice.acknowledged", ACK_SOURCE, claim.notice_id, data, time=now, id=event_id
        )
        await self.broker.publish(
            event.to_json(),
            self.topic,
            key=claim.notice_id.encode(),
            headers={"content-type": "application/json"},
        )
        return _page(200, "已确认收到", "感谢确认。督办提醒将不再重复发送给您；整改时限不变。")


def _page(status: int, title: str, text: str) -> web.Response:
    return web.Response(
        status=status,
        text=_PAGE.format(title=title, text=text),
        content_type="text/html",
        charset="utf-8",
    )


def create_ack_app(
    settings: Settings,
    broker: KafkaBroker,
    clock: Clock | None = None,
    secret: bytes | None = None,
) -> web.Application:
    """The aiohttp application of the acknowledgement endpoint."""
    key = secret or os.environ.get("DUBAN_ACK_SECRET", "").encode()
    if not key:
        raise RuntimeError("the ack service needs DUBAN_ACK_SECRET in the environment")
    service = AckService(broker, key, settings.topics.notice_acks, clock or SystemClock())
    app = web.Application()
    app.router.add_get("/ack", service.handle)
    app.router.add_get("/healthz", _healthz)
    return app


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")
