"""The SMS providers' callbacks on the acknowledgement service.

    POST /callbacks/aliyun/sms-report    Aliyun SmsReport (HTTP batch push)
    POST /callbacks/aliyun/sms-up        Aliyun SmsUp (replies)
    POST /callbacks/tencent/sms-status   Tencent status callback
    POST /callbacks/tencent/sms-reply    Tencent reply callback

Each URL, as configured in the provider's console, carries ``?token=`` equal to
``DUBAN_CALLBACK_TOKEN`` (compared in constant time; anything else, or no token
configured, gets 403). The body is read as the provider documents it
(services.sms.pushes) and every item taken on its own (services.ack.sms): an item that
cannot be read is logged and counted, and the rest of the batch is taken. The answer is
the provider's: Aliyun wants HTTP 200 and ``{"code": 0, "msg": "接收成功"}``, Tencent
``{"result": 0, "errmsg": "OK"}``. When Redis or Kafka does not answer the batch gets
503, so the provider pushes it again; what was taken before is not taken twice.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.ack.acked import AckedStore
from services.ack.sms import Publisher, SmsFollowUp
from services.clock import Clock
from services.metrics import CallbackMetrics, Metrics
from services.settings import Settings
from services.sms.awaiting import AwaitingStore, RedisAwaiting
from services.sms.pushes import (
    NotABatch,
    Unreadable,
    aliyun_reports,
    aliyun_uplinks,
    tencent_reports,
    tencent_uplinks,
)
from services.sms.replycodes import RedisReplyCodes, ReplyCodes
from services.store.client import redis_client

log = logging.getLogger("duban.ack")
T = TypeVar("T")
# Redis or Kafka not answering: the provider is asked to push again.
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisError, KafkaError, OSError, TimeoutError)
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answers:
    """How one provider wants its pushes answered."""

    provider: str
    ok: dict[str, Any]
    code_field: str
    text_field: str

    def answer(self, status: int, text: str) -> web.Response:
        body = self.ok if status == 200 else {self.code_field: status, self.text_field: text}
        return web.json_response(body, status=status, dumps=_dumps)


ALIYUN = Answers("aliyun", {"code": 0, "msg": "接收成功"}, "code", "msg")
TENCENT = Answers("tencent", {"result": 0, "errmsg": "OK"}, "result", "errmsg")


class SmsCallbacks:
    """The four endpoints over one SmsFollowUp."""

    def __init__(self, token: str | None, metrics: CallbackMetrics) -> None:
        self.token = token.encode() if token else None
        self.metrics = metrics
        self.follow_up: SmsFollowUp | None = None  # set when the app starts

    async def aliyun_report(self, request: web.Request) -> web.Response:
        return await self._take(request, ALIYUN, aliyun_reports, "reports")

    async def aliyun_up(self, request: web.Request) -> web.Response:
        return await self._take(request, ALIYUN, aliyun_uplinks, "replies")

    async def tencent_status(self, request: web.Request) -> web.Response:
        return await self._take(request, TENCENT, tencent_reports, "reports")

    async def tencent_reply(self, request: web.Request) -> web.Response:
        return await self._take(request, TENCENT, tencent_uplinks, "replies")

    async def _take(
        self,
        request: web.Request,
        answers: Answers,
        read: Callable[[object], Sequence[T | Unreadable]],
        kind: str,
    ) -> web.Response:
        if not self._authorized(request):
            log.warning("%s callback refused: wrong or missing token", answers.provider)
            return answers.answer(403, "forbidden")
        try:
            items = read(await _body(request))
        except NotABatch as e:
            log.warning("%s %s push refused: %s", answers.provider, kind, e)
            return answers.answer(400, str(e))
        follow_up = self.follow_up
        assert follow_up is not None, "callbacks used before the app started"
        take = follow_up.report if kind == "reports" else follow_up.reply
        counter = self.metrics.reports if kind == "reports" else self.metrics.replies
        try:
            for item in items:
                outcome = await _one(item, take, answers.provider, kind)  # type: ignore[arg-type]
                counter.labels(answers.provider, outcome).inc()
        except UNAVAILABLE as e:
            log.warning("%s %s push not taken, asked again: %s", answers.provider, kind, e)
            return answers.answer(503, "暂时无法处理，请重试")
        return answers.answer(200, "")

    def _authorized(self, request: web.Request) -> bool:
        given = request.query.get("token", "").encode()
        return self.token is not None and hmac.compare_digest(given, self.token)


async def _one(
    item: T | Unreadable, take: Callable[[T], Awaitable[str]], provider: str, kind: str
) -> str:
    """One item's outcome; a bad item (or a bug on it) never spoils the batch."""
    if isinstance(item, Unreadable):
        log.warning("%s %s item %d unreadable: %s", provider, kind, item.index, item.reason)
        return "invalid"
    try:
        return await take(item)
    except UNAVAILABLE:
        raise
    except Exception as e:
        log.error("%s %s item not taken: %s", provider, kind, type(e).__name__, exc_info=e)
        return "invalid"


async def _body(request: web.Request) -> object:
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise NotABatch("the body is too large")
    try:
        return json.loads(raw)
    except ValueError as e:
        raise NotABatch("the body is not JSON") from e


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def add_sms_callbacks(
    app: web.Application,
    settings: Settings,
    publisher: Publisher,
    clock: Clock,
    metrics: Metrics,
    acknowledgement_id: Callable[[str, str], str],
    *,
    redis: Redis | None = None,
    acked: AckedStore | None = None,
    stores: tuple[AwaitingStore, ReplyCodes] | None = None,
) -> SmsCallbacks:
    """Serve the SMS callbacks on ``app``. Their stores: ``stores`` if given, else on
    ``redis``, else on a Redis client of their own, opened and closed with the app.
    ``acked`` learns the acknowledgements replies publish (the page then says 已确认过).
    Without DUBAN_CALLBACK_TOKEN every callback is refused."""
    token = settings.callback_token.get_secret_value() if settings.callback_token else None
    if not token:
        log.warning("DUBAN_CALLBACK_TOKEN is unset: SMS delivery reports and replies refused")
    callbacks = SmsCallbacks(token, CallbackMetrics(metrics))

    def follow_up(awaiting: AwaitingStore, codes: ReplyCodes) -> SmsFollowUp:
        return SmsFollowUp(
            publisher, settings.topics, awaiting, codes, clock, acknowledgement_id, acked
        )

    async def own_redis(_: web.Application) -> AsyncIterator[None]:
        client = redis_client(settings, socket_timeout=2.0)
        callbacks.follow_up = follow_up(RedisAwaiting(client), RedisReplyCodes(client))
        try:
            yield
        finally:
            await client.aclose()

    if stores is not None:
        callbacks.follow_up = follow_up(*stores)
    elif redis is not None:
        callbacks.follow_up = follow_up(RedisAwaiting(redis), RedisReplyCodes(redis))
    else:
        app.cleanup_ctx.append(own_redis)
    for path, handler in (
        ("/callbacks/aliyun/sms-report", callbacks.aliyun_report),
        ("/callbacks/aliyun/sms-up", callbacks.aliyun_up),
        ("/callbacks/tencent/sms-status", callbacks.tencent_status),
        ("/callbacks/tencent/sms-reply", callbacks.tencent_reply),
    ):
        app.router.add_post(path, handler)
    return callbacks
