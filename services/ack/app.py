"""The acknowledgement page: GET /ack?t=TOKEN shows the notice and a "确认收到" button;
only POST /ack (form field t) publishes the acknowledgement, so a link scanner or a chat
preview that fetches the link acknowledges nothing."""

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
from redis.asyncio import Redis
from redis.exceptions import RedisError

from contracts.notice import NoticeAcknowledged
from contracts.registry import make_event
from services.ack.acked import AckedStore, MemoryAcked, RedisAcked
from services.ack.page import Pages, page_labels
from services.acktoken import AckClaim, InvalidToken, verify
from services.clock import Clock, SystemClock
from services.health import Health
from services.metrics import AckMetrics, Metrics
from services.settings import Settings

log = logging.getLogger("duban.ack")
ACK_SOURCE = "urn:duban:ack"
LINK = "link"  # notice.acknowledged `channel`: pressed on the acknowledgement page
# Kafka trouble while publishing: the person is asked to come back later.
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)
# Redis trouble while asking "confirmed already?": the page goes on without the answer.
STORE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
# Pages carry the token (in the URL and the form): no caching, no referrer, no indexing.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
}


class AckBroker(Protocol):
    """What the endpoint needs of the Kafka broker (FastStream's KafkaBroker has it)."""

    async def publish(
        self, message: bytes, topic: str, *, key: bytes, headers: dict[str, str]
    ) -> Any: ...

    async def ping(self, timeout: float | None) -> bool: ...


@dataclass(frozen=True)
class AckLimits:
    """How long the endpoint waits for Kafka and Redis before answering anyway."""

    publish_timeout_s: float = 5.0  # then "系统繁忙" instead of aiokafka's 40 s and a 500
    ready_timeout_s: float = 2.0  # /readyz: cluster metadata within this, or not ready
    store_timeout_s: float = 1.0  # "already confirmed?" unknown after this: ask/publish anyway


def acknowledgement_id(notice_id: str, person_id: str) -> str:
    """The event id of a person's acknowledgement of a notice: one per (notice, person),
    whichever link or click published it, so the engine drops every repeat."""
    return hashlib.sha256(f"{notice_id}\n{person_id}".encode()).hexdigest()[:32]


@dataclass
class AckService:
    """Shows acknowledgement pages and publishes acknowledgements."""

    broker: AckBroker
    secret: bytes
    topic: str
    clock: Clock
    limits: AckLimits
    health: Health
    acked: AckedStore
    pages: Pages = field(default_factory=Pages)
    metrics: AckMetrics = field(default_factory=AckMetrics)

    async def show(self, request: web.Request) -> web.Response:
        """GET /ack?t=…: the notice and the button, or that it was confirmed already; 403
        for a bad or expired link. Publishes nothing."""
        token = request.query.get("t", "")
        claim = self._claim(token)
        if claim is None:
            return self._refused()
        taken_at = await self._taken_at(claim)
        return _html(200, self.pages.confirm(claim, token, taken_at))

    async def acknowledge(self, request: web.Request) -> web.Response:
        """POST /ack (form field t): publishes the acknowledgement once; a repeat says it
        was confirmed already; 403 for a bad or expired link; 503 when Kafka does not take
        it in time."""
        form = await request.post()
        token = form.get("t")
        token = token if isinstance(token, str) else ""
        claim = self._claim(token)
        if claim is None:
            return self._refused()
        if (taken_at := await self._taken_at(claim)) is not None:
            return self._already(claim, taken_at)
        now = self.clock.now()
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
            return self._busy(claim, token)
        self.metrics.acknowledged.inc()
        await self._remember(claim, now)
        page = self.pages.result(
            "已确认收到", "感谢您的确认。", tone="done", claim=claim, scope=True
        )
        return _html(200, page)

    def _claim(self, token: str) -> AckClaim | None:
        try:
            return verify(self.secret, token, int(self.clock.now().timestamp()))
        except InvalidToken as e:
            log.info("acknowledgement link refused: %s", e.reason)
            self.metrics.refused.labels(_refusal(e)).inc()
            return None

    def _refused(self) -> web.Response:
        page = self.pages.result(
            "链接无效或已过期", "此链接无法使用。如需确认，请联系安委办。", tone="bad"
        )
        return _html(403, page)

    def _busy(self, claim: AckClaim, token: str) -> web.Response:
        """Kafka did not take it: nothing recorded, the button again to try later."""
        message = "确认尚未记录，请稍后再点一次“确认收到”。"
        page = self.pages.result(
            "系统繁忙，请稍后再试", message, tone="bad", claim=claim, token=token
        )
        return _html(503, page)

    def _already(self, claim: AckClaim, taken_at: datetime) -> web.Response:
        return _html(200, self.pages.confirm(claim, "", taken_at, heading="已确认过"))

    async def _taken_at(self, claim: AckClaim) -> datetime | None:
        """When this acknowledgement was taken; None if not, or if the store does not
        answer (then the person may confirm again: the engine drops the repeat)."""
        ack_id = acknowledgement_id(claim.notice_id, claim.person_id)
        try:
            async with asyncio.timeout(self.limits.store_timeout_s):
                return await self.acked.taken_at(ack_id)
        except STORE_ERRORS as e:
            log.warning("acknowledgements taken: store unavailable (%s)", _describe(e))
            return None

    async def _remember(self, claim: AckClaim, now: datetime) -> None:
        ack_id = acknowledgement_id(claim.notice_id, claim.person_id)
        try:
            async with asyncio.timeout(self.limits.store_timeout_s):
                await self.acked.remember(ack_id, now)
        except STORE_ERRORS as e:
            log.warning("acknowledgement %s published, not recorded: %s", ack_id, _describe(e))

    async def _publish(self, claim: AckClaim, now: datetime) -> None:
        data = NoticeAcknowledged(
            notice_id=claim.notice_id,
            person_id=claim.person_id,
            acknowledged_at=now,
            channel=LINK,
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
        return "no answer in time"
    return f"{type(error).__name__}: {error}"


def _html(status: int, page: str) -> web.Response:
    return web.Response(
        status=status,
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers=PAGE_HEADERS,
    )


def create_ack_app(
    settings: Settings,
    broker: AckBroker,
    clock: Clock | None = None,
    secret: bytes | None = None,
    limits: AckLimits | None = None,
    metrics: Metrics | None = None,
    redis: Redis | None = None,
    acked: AckedStore | None = None,
) -> web.Application:
    """The aiohttp application of the acknowledgement service; its /metrics serves
    `metrics` (a registry of its own unless given). Acknowledgements taken are kept in
    `acked`, else in `redis`, else in memory (one process only: tests)."""
    from_settings = settings.ack_secret
    key = secret or (from_settings.get_secret_value().encode() if from_settings else b"")
    if not key:
        raise RuntimeError("the ack service needs DUBAN_ACK_SECRET in the environment")
    limits = limits or AckLimits()
    # Ready when Kafka answers: without Redis the page still acknowledges (it only cannot
    # tell a repeat). (Health names the KafkaBroker; it calls nothing on it but ping.)
    health = Health(
        "ack",
        broker,  # type: ignore[arg-type]
        timeout_s=limits.ready_timeout_s,
        checks=["kafka"],
    )
    counts = AckMetrics(metrics)
    store = acked or (RedisAcked(redis) if redis is not None else MemoryAcked())
    service = AckService(
        broker,
        key,
        settings.topics.notice_acks,
        clock or SystemClock(),
        limits,
        health,
        store,
        Pages(page_labels(settings.config_dir)),
        counts,
    )
    app = web.Application()
    # No HEAD: link scanners and mail previews probe with it. GET only shows the page.
    app.router.add_get("/ack", service.show, allow_head=False)
    app.router.add_post("/ack", service.acknowledge)
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/readyz", service.ready)
    app.router.add_get("/metrics", make_aiohttp_handler(counts.registry))
    # The SMS providers' delivery reports and replies: POST /callbacks/{aliyun,tencent}/...
    from services.ack.callbacks import add_sms_callbacks

    add_sms_callbacks(
        app, settings, broker, service.clock, counts.registry, acknowledgement_id,
        redis=redis, acked=store,
    )  # fmt: skip
    return app


async def _alive(_: web.Request) -> web.Response:
    """GET /healthz: liveness; the process serves requests."""
    return web.Response(text="ok")
