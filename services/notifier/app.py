"""The notifier service: consumes notice.requested, delivers each once, publishes receipts."""

from __future__ import annotations

import asyncio
import contextlib
import functools
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
from redis.asyncio import Redis

from services.clock import Clock, SystemClock
from services.config.load import Config, load_config
from services.grouppublish import GroupPublisher
from services.guard import DeadLetter, Record, RecordGuard
from services.health import Health
from services.kafka import Publisher, dead_letter, ensure_topics, records_of, undecoded
from services.metrics import Metrics
from services.notifier.acklinks import AckLinks
from services.notifier.channels import Channel
from services.notifier.deferred import DeferredStore
from services.notifier.deliver import Deliverer
from services.notifier.followup import sms_followup
from services.notifier.holding import Holding
from services.notifier.intake import Intake, release_deferred
from services.notifier.ledger import DeliveryLedger
from services.notifier.outcomes import KafkaOutcomes
from services.notifier.ports import Ledger, SlotTaker
from services.notifier.ratelimit import RateLimiter, windows_of
from services.notifier.render import TemplateSet
from services.notifier.retry import RetryPolicy
from services.notifier.setup import build_channels, sms_templates
from services.notifier.smscheck import sms_template_problems
from services.notifier.tokens import RedisTokenStore
from services.settings import Settings, all_topics
from services.store.client import redis_client
from services.store.replicas import ReplicaWait

log = logging.getLogger("duban.notifier")
CONCURRENCY = 256  # notices of one batch in delivery at once
# The producer batches receipts: each waits up to LINGER_MS for company, and a batch holds
# MAX_BATCH_BYTES (the default 16 KiB, some 20 receipts, would keep deliveries waiting).
LINGER_MS = 2
MAX_BATCH_BYTES = 256 * 1024
T = TypeVar("T")


@dataclass
class NotifierParts:
    """What the notifier app built, for tests and the runner to reach."""

    broker: KafkaBroker
    app: FastStream
    health: Health
    metrics: Metrics = field(default_factory=Metrics)  # the notifier's registry
    deliverer: Deliverer | None = None
    intake: Intake | None = None
    deferred: DeferredStore | None = None
    channels: dict[str, Channel] = field(default_factory=dict)


@dataclass(frozen=True)
class Backing:
    """What the notifier keeps outside itself: who sent what, the quiet-hours deferrals,
    the channels' shared send-rate limits (None: off), and the Redis /readyz probes."""

    ledger: Ledger
    deferred: DeferredStore
    limiter: SlotTaker | None
    redis: Redis | None = None


BackingFactory = Callable[[], contextlib.AbstractAsyncContextManager[Backing]]


def create_notifier(
    settings: Settings,
    config: Config | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    channels: dict[str, Channel] | None = None,
    backing: BackingFactory | None = None,
    metrics: Metrics | None = None,
) -> NotifierParts:
    """Build the notifier app; clients open in its lifespan, nothing at import time.
    ``backing`` replaces the real one (topics on Kafka, stores in Redis), e.g. in memory."""
    config = config or load_config(settings.config_dir)
    broker = _broker(settings)
    registry = metrics if metrics is not None else Metrics()
    parts = NotifierParts(broker, FastStream(broker, logger=log), Health("notifier", broker))
    parts.metrics = registry
    receipts, dead_notices = _publishers(broker, settings)

    async def dead_letter_record(record: Record, reason: str) -> None:
        await dead_letter(dead_notices, settings.topics.dlq_notices, record, reason)

    _subscribe(parts, settings, dead_letter_record)
    assembly = _Assembly(
        settings,
        config,
        clock or SystemClock(),
        retry or RetryPolicy(),
        TemplateSet.load(config.folder / "templates"),
        receipts,
        dead_notices,
        dead_letter_record,
        registry,
        channels,
        backing or functools.partial(redis_backing, settings, config),
    )

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with assembly.running(parts):
            yield

    app = FastStream(broker, lifespan=lifespan, logger=log)
    _release_while_running(app, parts, assembly.clock)
    parts.app = app
    return parts


@dataclass(frozen=True)
class _Assembly:
    """What the notifier's lifespan builds its delivery from."""

    settings: Settings
    config: Config
    clock: Clock
    retry: RetryPolicy
    templates: TemplateSet
    receipts: Publisher
    dead_notices: Publisher
    dead_letter_record: DeadLetter
    metrics: Metrics
    channels: dict[str, Channel] | None  # None: those channels.yaml configures
    backing: BackingFactory

    @contextlib.asynccontextmanager
    async def running(self, parts: NotifierParts) -> AsyncIterator[None]:
        """Open the backing and the channels, wire the deliverer into ``parts``; close
        them on exit."""
        async with self.backing() as kept:
            parts.health.redis = kept.redis
            built = self.channels
            if built is None:  # the environment read at start: tests set variables late
                # The work-chat apps' tokens are shared by every replica through Redis.
                tokens = RedisTokenStore(kept.redis) if kept.redis is not None else None
                built = build_channels(self.config, self.settings.environment(), tokens)
            parts.channels, parts.deferred = built, kept.deferred
            parts.deliverer = self._deliverer(built, kept)
            limits = self.settings.input_limits
            parts.intake = Intake(parts.deliverer, self.dead_letter_record, limits)
            try:
                yield
            finally:
                for channel in built.values():
                    await channel.aclose()

    def _deliverer(self, channels: dict[str, Channel], kept: Backing) -> Deliverer:
        """The deliverer over ``channels``, its state kept in ``kept``."""
        for problem in sms_template_problems(self.config, self.templates):
            log.warning("%s", problem)
        outcomes = KafkaOutcomes(self.receipts, self.dead_notices, kept.deferred, self.clock)
        return Deliverer(
            channels=channels,
            templates=self.templates,
            ledger=kept.ledger,
            outcomes=outcomes,
            clock=self.clock,
            retry=self.retry,
            sms_templates=sms_templates(self.config),
            ack_url=AckLinks.from_env(self.settings, self.clock).url_for,
            limiter=kept.limiter,
            metrics=self.metrics,
            followup=sms_followup(self.settings, kept.redis, self.clock, self.metrics),
            holding=Holding(window_s=self.settings.undelivered_hold_s),
        )


def _broker(settings: Settings) -> KafkaBroker:
    """The notifier's broker: one consumer, one producer for receipts and dead letters."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id="duban-notifier",
        logger=log,
        linger_ms=LINGER_MS,
        max_batch_size=MAX_BATCH_BYTES,
    )


def _publishers(broker: KafkaBroker, settings: Settings) -> tuple[Publisher, Publisher]:
    """The notifier's publishers: receipts, and notices no channel could deliver."""
    broker.publisher(  # declared for the AsyncAPI document; published through in groups
        settings.topics.notice_receipts,
        description="notice.delivered / notice.failed receipts, keyed by notice id.",
    )
    receipts = GroupPublisher(
        broker, settings.topics.notice_receipts, fallback_partitions=settings.topic_partitions
    )
    dead_notices = broker.publisher(
        settings.topics.dlq_notices,
        description="Notices no channel could deliver, or unreadable: reason in headers.",
    )
    return receipts, dead_notices


def _subscribe(parts: NotifierParts, settings: Settings, dead_letter_record: DeadLetter) -> None:
    """Consume notice.requested in batches, each record behind the record guard."""
    guard = RecordGuard(
        "notifier", dead_letter_record, parts.health.healthy, log, settings.poison_attempts
    )

    # NACK_ON_ERROR: offsets commit only after every notice of the batch is delivered,
    # deferred or dead-lettered; an infrastructure error redelivers the batch, and the
    # delivery ledger keeps already-sent messages from going out twice.
    @parts.broker.subscriber(
        settings.topics.notice_requested,
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
async def redis_backing(settings: Settings, config: Config) -> AsyncIterator[Backing]:
    """The real backing: the topics exist on Kafka; the delivery ledger, deferrals and
    send-rate limits live in Redis."""
    topics = all_topics(settings.topics)
    await ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions)
    # A pool that waits for a free connection rather than failing when all CONCURRENCY
    # deliveries talk to Redis at once.
    redis = redis_client(settings, blocking_pool_max=CONCURRENCY + 64)
    wait = ReplicaWait.of(settings)
    ledger = DeliveryLedger(redis, _owner(), wait=wait)
    try:
        yield Backing(ledger, DeferredStore(redis, wait), _limiter(settings, config, redis), redis)
    finally:
        await ledger.aclose()
        await redis.aclose()


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
