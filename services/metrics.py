"""Metrics for ops, with prometheus_client: one registry per service, passed down to what
counts; every metric's name in this module; the port that serves /metrics, /healthz and
/readyz.

Names: the engine's and the circuit breaker's keep the names ops already scrape
(``duban_events_total``, ``duban_channel_circuit_open``, ...); the newer ones carry their
service (``duban_engine_*``, ``duban_notifier_*``, ``duban_ack_*``). No two services share a
name, so `duban run all` serves their registries side by side (a clash stops the start).
Label values are bounded sets (channels from the config, the reason classes below), never
free text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.aiohttp import make_aiohttp_handler

log = logging.getLogger("duban.metrics")
Family = TypeVar("Family", Counter, Gauge, Histogram)

# Why a delivery failed on a channel (label `reason` of duban_notifier_failed_total).
FAILURE_REASONS = ("permanent", "retries_exhausted", "unreachable", "rate_limited", "circuit_open")
# Why a notice was dead-lettered: every planned channel failed, or none is configured.
DEAD_LETTER_REASONS = ("channels_failed", "no_channel")
# Why an acknowledgement link was refused (label `reason` of duban_ack_refused_total).
ACK_REFUSALS = ("invalid", "expired", "unavailable")
# SMS delivery reports and replies the ack service's callbacks received, by outcome; why the
# notifier sent an accepted SMS's notice on to the next channel.
SMS_REPORT_OUTCOMES = ("reached", "failed", "duplicate", "unmatched", "invalid")
SMS_REPLY_OUTCOMES = ("acknowledged", "replayed", "expired", "unknown_code", "no_code", "invalid")
SMS_FALLBACK_REASONS = ("report_failed", "no_report")

SEND_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TIMER_LAG_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Metrics(CollectorRegistry):
    """One service's registry. A family is made once per registry, so components built
    again on it (a lifespan that runs twice, a second breaker) count on the same series."""

    def __init__(self) -> None:
        super().__init__()
        self._families: dict[str, Counter | Gauge | Histogram] = {}

    def family(
        self,
        kind: type[Family],
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        **options: Any,
    ) -> Family:
        """The registry's metric `name`, made on first use."""
        found = self._families.get(name)
        if found is None:
            found = self._families[name] = kind(
                name, documentation, labels, registry=self, **options
            )
        if not isinstance(found, kind):
            raise TypeError(f"metric {name} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def render(self) -> str:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self).decode()


class EngineMetrics:
    """The engine's metrics."""

    def __init__(self, registry: Metrics | None = None) -> None:
        r = self.registry = registry if registry is not None else Metrics()
        self.events = r.family(Counter, "duban_events", "Events handled, by outcome.", ["outcome"])
        self.conflicts = r.family(
            Counter,
            "duban_state_conflicts",
            "Compare-and-set conflicts retried (replicas, timers racing events).",
        )
        self.notices_requested = r.family(
            Counter,
            "duban_notices_requested",
            "notice.requested events published (re-sends of a notice included).",
        )
        self.timers_fired = r.family(Counter, "duban_timers_fired", "Timers claimed and fired.")
        self.timers_pending = r.family(
            Gauge,
            "duban_engine_timers_pending",
            "Timers pending in Redis (leased ones included) at the timer loop's last round.",
        )
        self.timer_watermark_lag_seconds = r.family(
            Gauge,
            "duban_engine_timer_watermark_lag_seconds",
            "How long the oldest inbound event not yet applied that holds back a timer "
            "(of its own hazard or task) has waited; 0 when none does.",
        )
        self.timer_lag_seconds = r.family(
            Histogram,
            "duban_engine_timer_lag_seconds",
            "How late a timer was claimed after it fell due.",
            buckets=TIMER_LAG_BUCKETS_S,
        )
        self.batch_seconds = r.family(
            Histogram,
            "duban_engine_batch_duration_seconds",
            "Time to handle one consumed batch of inbound events.",
            buckets=BATCH_BUCKETS_S,
        )
        self.calendar_fallback_years = r.family(
            Gauge,
            "duban_calendar_fallback_years",
            "Years whose working days fell back to Monday–Friday (no holiday data).",
        )


@dataclass(frozen=True)
class ChannelSeries:
    """One channel's series, made once: a delivery only increments them."""

    sent: Counter
    retried: Counter
    deferred: Counter
    send_seconds: Histogram
    failed: Mapping[str, Counter]


class NotifierMetrics:
    """The notifier's metrics, per channel (after Alertmanager's per integration)."""

    def __init__(self, registry: Metrics | None = None, channels: Iterable[str] = ()) -> None:
        r = self.registry = registry if registry is not None else Metrics()
        channel = ["channel"]
        self.sent = r.family(
            Counter, "duban_notifier_sent", "Messages the channel's provider accepted.", channel
        )
        self.failed = r.family(
            Counter,
            "duban_notifier_failed",
            "Deliveries that failed on the channel, by reason class: " + ", ".join(FAILURE_REASONS),
            ["channel", "reason"],
        )
        self.retried = r.family(
            Counter, "duban_notifier_retried", "Sends tried again after a retryable error.", channel
        )
        self.deferred = r.family(
            Counter,
            "duban_notifier_deferred",
            "Notices held for the channel's quiet hours.",
            channel,
        )
        self.send_seconds = r.family(
            Histogram,
            "duban_notifier_send_duration_seconds",
            "Time of one send (one attempt) to the channel's provider.",
            channel,
            buckets=SEND_BUCKETS_S,
        )
        self.held = r.family(
            Counter,
            "duban_notifier_held",
            "Notices no channel delivered for now (the last one's failure may pass): held "
            "and tried again later (services/notifier/holding.py).",
        )
        self.dead_lettered = r.family(
            Counter,
            "duban_notifier_dead_lettered",
            "Notices sent to the notices dead-letter topic: every planned channel failed "
            "(channels_failed) or none is configured (no_channel).",
            ["reason"],
        )
        self.circuit_open = r.family(
            Gauge,
            "duban_channel_circuit_open",
            "1 while the channel's circuit is open or half-open (the channel looks down).",
            channel,
        )
        self.circuit_opened = r.family(
            Counter,
            "duban_channel_circuit_opened",
            "Times the channel's circuit opened after failed sends in a row.",
            channel,
        )
        self.in_doubt = r.family(
            Counter,
            "duban_notifier_in_doubt",
            "Deliveries in doubt: a send cut off midway (its replica died or froze) on a "
            "channel that would deliver a repeat; recorded, not sent again.",
            channel,
        )
        self._channels: dict[str, ChannelSeries] = {}
        for reason in DEAD_LETTER_REASONS:
            self.dead_lettered.labels(reason)
        for name in channels:  # every configured channel exported from the start
            self.channel(name)

    def channel(self, name: str) -> ChannelSeries:
        """The series of channel `name` (all at 0 until something happens)."""
        series = self._channels.get(name)
        if series is None:
            series = self._channels[name] = ChannelSeries(
                sent=self.sent.labels(name),
                retried=self.retried.labels(name),
                deferred=self.deferred.labels(name),
                send_seconds=self.send_seconds.labels(name),
                failed={reason: self.failed.labels(name, reason) for reason in FAILURE_REASONS},
            )
        return series


class AckMetrics:
    """The acknowledgement endpoint's metrics."""

    def __init__(self, registry: Metrics | None = None) -> None:
        r = self.registry = registry if registry is not None else Metrics()
        self.acknowledged = r.family(
            Counter, "duban_ack_acknowledged", "Acknowledgements published to Kafka."
        )
        self.refused = r.family(
            Counter,
            "duban_ack_refused",
            "Acknowledgement links refused: invalid (forged, altered, malformed), expired, "
            "or unavailable (Kafka did not take the acknowledgement in time).",
            ["reason"],
        )
        for reason in ACK_REFUSALS:
            self.refused.labels(reason)


class CallbackMetrics:
    """The SMS providers' callbacks on the acknowledgement service."""

    def __init__(self, registry: Metrics | None = None) -> None:
        r = self.registry = registry if registry is not None else Metrics()
        self.reports = r.family(
            Counter,
            "duban_ack_sms_reports",
            "SMS delivery reports received, by provider and outcome: "
            + ", ".join(SMS_REPORT_OUTCOMES),
            ["provider", "outcome"],
        )
        self.replies = r.family(
            Counter,
            "duban_ack_sms_replies",
            "SMS replies received, by provider and outcome: " + ", ".join(SMS_REPLY_OUTCOMES),
            ["provider", "outcome"],
        )
        for provider in ("aliyun", "tencent"):
            for outcome in SMS_REPORT_OUTCOMES:
                self.reports.labels(provider, outcome)
            for outcome in SMS_REPLY_OUTCOMES:
                self.replies.labels(provider, outcome)


class FollowUpMetrics:
    """The notifier's SMS fallbacks after the provider accepted a message."""

    def __init__(self, registry: Metrics | None = None) -> None:
        r = self.registry = registry if registry is not None else Metrics()
        self.fallbacks = r.family(
            Counter,
            "duban_notifier_sms_fallbacks",
            "Accepted SMS whose notice went on to the next channel: the delivery report "
            "failed (report_failed) or none came in time (no_report).",
            ["reason"],
        )
        for reason in SMS_FALLBACK_REASONS:
            self.fallbacks.labels(reason)


def served(registries: Sequence[CollectorRegistry]) -> CollectorRegistry:
    """What one port serves: the services' registries side by side, and the process's own
    metrics (CPU, memory, garbage collector) once. A name two of them share is refused
    here (prometheus_client's ValueError), at start, rather than scraped twice."""
    combined = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=combined)
    GCCollector(registry=combined)
    for registry in registries:
        combined.register(registry)
    return combined


Ready = Callable[[], Awaitable[Sequence[str]]]


async def serve_metrics(
    port: int,
    host: str = "127.0.0.1",
    registries: Sequence[CollectorRegistry] = (),
    ready: Ready | None = None,
) -> web.AppRunner:
    """Serve /metrics (the `registries`), /healthz (liveness) and /readyz (readiness:
    `ready()` finds no problem) on `host`:`port`. OSError when the port cannot be bound."""

    async def readyz(_: web.Request) -> web.Response:
        problems = list(await ready()) if ready is not None else []
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ready\n")

    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(served(registries)))
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("metrics on http://%s:%d/metrics", host, port)
    return runner


async def _alive(_: web.Request) -> web.Response:
    return web.Response(text="ok")
