"""The acknowledgement endpoint: GET /ack?t=TOKEN checks the link, publishes the ack."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web
from aiokafka.errors import KafkaError
from prometheus_client.aiohttp import make_aiohttp_handler

from contracts.notice import NoticeAcknowledged
from contracts.registry import make_event
from services.acktoken import AckClaim, InvalidToken, verify
from services.clock import Clock, SystemClock
from services.health import Health
from services.metrics import AckMetrics, Metrics
from services.settings import Settings

log = logging.getLogger("duban.ack")
ACK_SOURCE = "urn:duban:ack"
# Kafka trouble while publishing: the person is asked to come back later.
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)
_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>督办确认</title><body style="font-family:sans-serif;margin:3em">
<h2>{title}</h2><p>{text}</p></body></html>"""


class AckBroker(Protocol):
    """What the endpoint needs of the Kafka broker (FastStream's KafkaBroker has it)."""

    async def publish(
        self, message: bytes, topic: str, *, key: bytes, headers: dict[str, str]
    ) -> Any: ...

    async def ping(self, timeout: float | None) -> bool: ...


@dataclass(frozen=True)
class AckLimits:
    """How long the endpoint waits for Kafka before answering anyway."""

    publish_timeout_s: float = 5.0  # then "系统繁忙" instead of aiokafka's 40 s and a 500
    ready_timeout_s: float = 2.0  # /readyz: cluster metadata within this, or not ready


def acknowledgement_id(notice_id: str, person_id: str) -> str:
    """The event id of a person's acknowledgement of a notice: one per (notice, person),
    whichever link or click published it, so the engine drops every repeat."""
    return hashlib.sha256(f"{notice_id}\n{person_id}".encode()).hexdigest()[:32]


@dataclass
class AckService:
    """Verifies acknowledgement links and publishes the acknowledgement."""

    broker: AckBroker
    secret: bytes
    topic: str
    clock: Clock
    limits: AckLimits
    health: Health
    metrics: AckMetrics = field(default_factory=AckMetrics)

    async def handle(self, request: web.Request) -> web.Response:
        """GET /ack?t=…: 200 and a confirmation page, 403 for a bad or expired link, 503
        when Kafka does not take the acknowledgement in time."""
        now = self.clock.now()
        try:
            claim = verify(self.secret, request.query.get("t", ""), int(now.timestamp()))
        except InvalidToken as e:
            log.info("acknowledgement refused: %s", e.reason)
            self.metrics.refused.labels(_refusal(e)).inc()
            return _page(403, "链接无效或已过期", "请联系安委办。")
        try:
            async with asyncio.timeout(self.limits.publish_timeout_s):
                await self._publish(claim, now)
        except PUBLISH_ERRORS as e:
            # A timed-out record may still reach Kafka later; its id makes that harmless.
            log.warning(
                "acknowledgement of notice %s by %s not published: %s",
                claim.notice_id,
                claim.person_id,
                _describe(e),
            )
            self.metrics.refused.labels("unavailable").inc()
            return _page(503, "系统繁忙，请稍后再试", "确认尚未记录，请稍后重新打开此链接。")
        self.metrics.acknowledged.inc()
        return _page(200, "已确认收到", "感谢确认。督办提醒将不再重复发送给您；整改时限不变。")

    async def _publish(self, claim: AckClaim, now: datetime) -> None:
        data = NoticeAcknowledged(
            notice_id=claim.notice_id, person_id=claim.person_id, acknowledged_at=now
        )
        event_id = acknowledgement_id(claim.notice_id, claim.person_id)
        event = make_event(
            "notice.acknowledged", ACK_SOURCE, claim.notice_id, data, time=now, id=event_id
        )
        await self.broker.publish(
            event.to_json(),
            self.topic,
            key=claim.notice_id.encode(),
            headers={"content-type": "application/json"},
        )

    async def ready(self, _: web.Request) -> web.Response:
        """GET /readyz: 200 when Kafka answers a metadata request in time, else 503 and
        what is unreachable (as the engine's and notifier's /readyz do)."""
        problems = await self.health.problems()
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ready\n")


def _refusal(error: InvalidToken) -> str:
    """The reason class of a refused link (services.metrics.ACK_REFUSALS)."""
    return "expired" if "expired" in error.reason else "invalid"


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError) and not str(error):
        return "no answer from Kafka in time"
    return f"{type(error).__name__}: {error}"


def _page(status: int, title: str, text: str) -> web.Response:
    return web.Response(
        status=status,
        text=_PAGE.format(title=title, text=text),
        content_type="text/html",
        charset="utf-8",
    )


def create_ack_app(
    settings: Settings,
    broker: AckBroker,
    clock: Clock | None = None,
    secret: bytes | None = None,
    limits: AckLimits | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    """The aiohttp application of the acknowledgement endpoint; its /metrics serves
    `metrics` (a registry of its own unless given)."""
    from_settings = settings.ack_secret
    key = secret or (from_settings.get_secret_value().encode() if from_settings else b"")
    if not key:
        raise RuntimeError("the ack service needs DUBAN_ACK_SECRET in the environment")
    limits = limits or AckLimits()
    # Only Kafka: the endpoint uses no Redis and consumes nothing. (Health names the
    # KafkaBroker; it calls nothing on it here but ping, which AckBroker has.)
    health = Health(
        "ack",
        broker,  # type: ignore[arg-type]
        timeout_s=limits.ready_timeout_s,
        checks=["kafka"],
    )
    counts = AckMetrics(metrics)
    service = AckService(
        broker, key, settings.topics.notice_acks, clock or SystemClock(), limits, health, counts
    )
    app = web.Application()
    # No HEAD: link scanners and mail previews probe with it, and it must acknowledge nothing.
    app.router.add_get("/ack", service.handle, allow_head=False)
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/readyz", service.ready)
    app.router.add_get("/metrics", make_aiohttp_handler(counts.registry))
    return app


async def _alive(_: web.Request) -> web.Response:
    """GET /healthz: liveness; the process serves requests."""
    return web.Response(text="ok")
