"""The notifier service: consumes notice.requested, delivers each once, publishes receipts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from redis.asyncio import BlockingConnectionPool, Redis

from services.batchproducer import BatchProducer
from services.clock import Clock, SystemClock
from services.config.load import Config, load_config
from services.guard import Record, RecordGuard
from services.health import Health
from services.kafka import dead_letter, ensure_topics, records_of, undecoded
from services.notifier.acklinks import AckLinks
from services.notifier.channels import Channel
from services.notifier.deferred import DeferredStore
from services.notifier.deliver import Deliverer
from services.notifier.intake import Intake, release_deferred
from services.notifier.ledger import DeliveryLedger
from services.notifier.outcomes import KafkaOutcomes
from services.notifier.ratelimit import RateLimiter, windows_of
from services.notifier.render import TemplateSet
from services.notifier.retry import RetryPolicy
from services.notifier.setup import build_channels, sms_templates
from services.notifier.smscheck import sms_template_problems
from services.settings import Settings, all_topics

log = logging.getLogger("duban.notifier")
CONCURRENCY = 256  # notices of one batch in delivery at once
T = TypeVar("T")


@dataclass
class NotifierParts:
    """What the notifier app built, for tests and the runner to reach."""

    broker: KafkaBroker
    app: FastStream
    health: Health
    deliverer: Deliverer | None = None
    intake: Intake | None = None
    deferred: DeferredStore | None = None
    channels: dict[str, Channel] = field(default_factory=dict)


def create_notifier(
    settings: Settings,
    config: Config | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    channels: dict[str, Channel] | None = None,
) -> NotifierParts:
    """Build the notifier app; clients open in its lifespan, nothing at import time."""
    config = config or load_config(settings.config_dir)
    clock = clock or SystemClock()
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-notifier", logger=log)
    parts = NotifierParts(broker, FastStream(broker, logger=log), Health("notifier", broker))
    topics = settings.topics
    templates = TemplateSet.load(config.folder / "templates")

    async def dead_letter_record(record: Record, reason: str) -> None:
        await dead_letter(broker, topics.dlq_notices, record, reason)

    guard = RecordGuard(
        "notifier", dead_letter_record, parts.health.healthy, log, settings.poison_attempts
    )

    # NACK_ON_ERROR: offsets commit only after every notice of the batch is delivered,
    # deferred or dead-lettered; an infrastructure error redelivers the batch, and the
    # delivery ledger keeps already-sent messages from going out twice.
    @broker.subscriber(
        topics.notice_requested,
        group_id=settings.notifier_group,
        batch=True,
        max_records=settings.batch_max,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=undecoded,
    )
    async def on_notices(message: KafkaMessage) -> None:
        intake = parts.intake
        assert intake is not None, "notifier used before its lifespan started"

        async def handle(records: Sequence[Record]) -> None:
            await _each(records, intake.record, CONCURRENCY)

        await guard.run(records_of(message.raw_message), handle)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, all_topics(topics), settings.topic_partitions)
        redis = _redis(settings.redis_url)
        parts.health.redis = redis
        deferred = DeferredStore(redis)
        built = channels if channels is not None else build_channels(config, os.environ)
        parts.channels = built
        ledger = DeliveryLedger(redis, _owner())
        receipts = BatchProducer(settings.kafka_bootstrap, client_id="duban-notifier-receipts")
        for problem in sms_template_problems(config, templates):
            log.warning("%s", problem)
        parts.deliverer = Deliverer(
            channels=built,
            templates=templates,
            ledger=ledger,
            outcomes=KafkaOutcomes(broker, receipts, topics, deferred, clock),
            clock=clock,
            retry=retry or RetryPolicy(),
            sms_templates=sms_templates(config),
            ack_url=AckLinks.from_env(settings, clock).url_for,
            limiter=_limiter(settings, config, redis),
        )
        parts.deferred = deferred
        parts.intake = Intake(parts.deliverer, dead_letter_record, settings.input_limits)
        await receipts.start()
        try:
            yield
        finally:
            for channel in built.values():
                await channel.aclose()
            await receipts.stop()
            await ledger.aclose()
            await redis.aclose()

    app = FastStream(broker, lifespan=lifespan, logger=log)
    _release_while_running(app, parts, clock)
    parts.app = app
    return parts


def _release_while_running(app: FastStream, parts: NotifierParts, clock: Clock) -> None:
    """Release quiet-hours deferrals while the app runs."""
    tasks: list[asyncio.Task[None]] = []

    # Deferred notices publish receipts through the broker: start once it is connected.
    @app.after_startup
    async def start_release() -> None:
        assert parts.intake is not None and parts.deferred is not None
        tasks.append(asyncio.create_task(release_deferred(parts.intake, parts.deferred, clock)))

    @app.on_shutdown
    async def stop_release() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _redis(url: str) -> Redis:
    """A client whose pool waits for a free connection rather than failing when all
    CONCURRENCY deliveries talk to Redis at once (redis-py's default pool holds 100)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=CONCURRENCY + 64, timeout=30)
    return Redis.from_pool(pool)


def _owner() -> str:
    """This replica's name in delivery leases: unique even for two replicas in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _limiter(settings: Settings, config: Config, redis: Redis) -> RateLimiter | None:
    """The channels' shared send-rate limits, unless switched off (DUBAN_RATE_LIMITS=off)."""
    if not settings.rate_limits:
        log.warning("send-rate limits are off (DUBAN_RATE_LIMITS): robots may refuse bursts")
        return None
    return RateLimiter(redis, windows_of(config.channels))


async def _each(items: Sequence[T], handle: Callable[[T], Awaitable[None]], workers: int) -> None:
    """``handle`` every item, at most ``workers`` at once; then raise the first error, if
    any, after every item settled (nothing half-sent is abandoned)."""
    pending = iter(items)
    errors: list[Exception] = []

    async def work() -> None:
        for item in pending:
            try:
                await handle(item)
            except Exception as e:
                errors.append(e)

    await asyncio.gather(*(work() for _ in range(min(workers, len(items)))))
    if errors:
        raise errors[0]
