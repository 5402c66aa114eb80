"""Metrics: one registry per service, what the engine, the notifier and the ack service count,
and the port that serves them (parsed back with prometheus_client's own parser)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from contracts.notice import ChannelPlan
from services.ack.app import create_ack_app
from services.config.load import load_config
from services.engine.observe import observe, register_gauges
from services.engine.timers import TimerLoop
from services.engine.work import BatchReport
from services.metrics import (
    AckMetrics,
    EngineMetrics,
    Metrics,
    NotifierMetrics,
    serve_metrics,
    served,
)
from services.notifier.channels import DeliveryError, OutboundMessage, SendResult
from services.notifier.circuit import circuit_open, failure_reason
from services.notifier.render import TemplateSet
from services.settings import Settings
from services.store.ports import EMPTY
from services.store.timers import Claimed
from tests.fakes import FakeClock
from tests.unit.test_ack_app import LIMITS, SECRET, Broker, token
from tests.unit.test_notifier_deliver import (
    FakeTime,
    ScriptedChannel,
    deliverer,
    notice,
    permanent,
    server_error,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=ZoneInfo("UTC"))


def test_prometheus_text_has_counters_with_labels_and_gauges() -> None:
    metrics = Metrics()
    events = metrics.family(Counter, "duban_events", "Events.", ["outcome"])
    events.labels("applied").inc(3)
    events.labels("stale").inc(1)
    metrics.family(Gauge, "duban_pending", "Pending.").set_function(lambda: 7.0)
    text = metrics.render()
    assert "# TYPE duban_events_total counter" in text
    assert 'duban_events_total{outcome="applied"} 3' in text
    assert 'duban_events_total{outcome="stale"} 1' in text
    assert "# HELP duban_pending Pending.\n# TYPE duban_pending gauge\nduban_pending 7" in text


def test_calendar_fallback_is_a_metric_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    rules = load_config(EXAMPLE).rules()
    metrics = register_gauges(rules)
    rules.timing.calendar.add_working_days(datetime(2027, 3, 1, tzinfo=ZoneInfo("UTC")), 3)
    with caplog.at_level(logging.WARNING, logger="duban.engine"):
        observe(BatchReport(), rules, metrics)
        observe(BatchReport(), rules, metrics)
    warnings = [r.message for r in caplog.records if "2027" in r.message]
    assert len(warnings) == 1
    assert "duban_calendar_fallback_years 1" in metrics.registry.render()


def test_a_family_is_made_once_per_registry_and_registries_are_not_shared() -> None:
    registry = Metrics()
    first, again = NotifierMetrics(registry), NotifierMetrics(registry)
    first.channel("email").sent.inc()
    again.channel("email").sent.inc()
    assert registry.get_sample_value("duban_notifier_sent_total", {"channel": "email"}) == 2
    with pytest.raises(TypeError, match="duban_notifier_sent"):
        registry.family(Gauge, "duban_notifier_sent", "Not a gauge.")
    other = EngineMetrics()  # a fresh registry: nothing process-wide
    other.events.labels("applied").inc()
    assert (
        EngineMetrics().registry.get_sample_value("duban_events_total", {"outcome": "applied"})
        is None
    )


def test_the_services_are_served_side_by_side_and_a_shared_name_is_refused() -> None:
    engine, notifier, ack = EngineMetrics(), NotifierMetrics(channels=["email"]), AckMetrics()
    text = served([engine.registry, notifier.registry, ack.registry]).collect()
    names = {family.name for family in text}
    assert {"duban_events", "duban_notifier_sent", "duban_ack_refused"} <= names
    assert "process_cpu_seconds" in names  # the process's own metrics, once
    with pytest.raises(ValueError, match="Duplicated"):
        served([engine.registry, EngineMetrics().registry])


def test_a_batch_is_counted_by_outcome() -> None:
    rules, metrics = load_config(EXAMPLE).rules(), EngineMetrics()
    report = BatchReport(rejected=1, conflicts=3, outcomes={"applied": 2, "stale": 1})
    observe(report, rules, metrics)
    value = metrics.registry.get_sample_value
    assert value("duban_events_total", {"outcome": "applied"}) == 2
    assert value("duban_events_total", {"outcome": "stale"}) == 1
    assert value("duban_events_total", {"outcome": "dead_lettered"}) == 1
    assert value("duban_state_conflicts_total") == 3


class Firing:
    """Stands in for the engine behind the timer loop: notes what fired."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        self.duties = self

    async def advance_hazards(self, hazards: dict[str, list[object]]) -> None:
        self.fired += [f"hazard:{h}" for h in hazards]

    async def fire(self, members: list[str], due: object = None) -> None:
        self.fired += members


class DueTimers:
    """Timers in memory; the loop stops once it has looked at what is pending."""

    def __init__(self, due: dict[str, datetime]) -> None:
        self.due = due
        self.loop: TimerLoop | None = None

    async def claim_due(
        self, now: datetime, limit: int, lease_s: float, held: Mapping[str, datetime] = EMPTY
    ) -> list[Claimed]:
        claimed = [
            Claimed(m, at)
            for m, at in self.due.items()
            if at <= now and not (m in held and at >= held[m])
        ][:limit]
        for timer in claimed:
            del self.due[timer.member]
        return claimed

    async def pending(self) -> int:
        assert self.loop is not None
        self.loop.stop()
        return len(self.due)


async def test_timers_fired_their_lag_and_the_pending_ones_are_counted() -> None:
    due = {"hazard:H1": NOW - timedelta(seconds=90), "digest:weekly": NOW, "hazard:H2": NOW}
    timers, metrics = DueTimers({**due, "hazard:H3": NOW + timedelta(days=1)}), EngineMetrics()
    loop = TimerLoop(Firing(), timers, FakeClock(NOW), Settings(), metrics)  # type: ignore[arg-type]
    timers.loop = loop
    await loop.run()
    value = metrics.registry.get_sample_value
    assert value("duban_timers_fired_total") == 3
    assert value("duban_engine_timer_lag_seconds_count") == 3
    assert value("duban_engine_timer_lag_seconds_sum") == 90
    assert value("duban_engine_timer_lag_seconds_bucket", {"le": "60.0"}) == 2
    assert value("duban_engine_timers_pending") == 1


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


class SlowChannel(ScriptedChannel):
    """A scripted channel whose every send takes 0.3 s of the deliverer's monotonic time."""

    clock: FakeTime | None = None

    async def send(self, message: OutboundMessage) -> SendResult:
        assert self.clock is not None
        self.clock.now += 0.3
        return await super().send(message)


async def test_one_delivery_counts_one_send_and_its_latency(templates: TemplateSet) -> None:
    registry, email = Metrics(), SlowChannel("email", "email")
    d = deliverer(templates, email, ScriptedChannel("wecom"), metrics=registry)
    email.clock = d.time
    await d.deliver(notice("email"))
    value = registry.get_sample_value
    assert value("duban_notifier_sent_total", {"channel": "email"}) == 1
    assert value("duban_notifier_send_duration_seconds_count", {"channel": "email"}) == 1
    assert value("duban_notifier_send_duration_seconds_sum", {"channel": "email"}) == 0.3
    assert value("duban_notifier_sent_total", {"channel": "wecom"}) == 0  # exported at 0
    assert value("duban_notifier_failed_total", {"channel": "wecom", "reason": "permanent"}) == 0


async def test_retries_failures_deferrals_and_dead_letters_are_counted(
    templates: TemplateSet,
) -> None:
    registry = Metrics()
    wecom = ScriptedChannel("wecom", script=[server_error(), permanent()])
    email = ScriptedChannel("email", "email", script=[permanent()])
    d = deliverer(templates, wecom, email, metrics=registry)
    await d.deliver(notice("wecom", "email"))  # wecom: retried, then permanent; email too
    await d.deliver(notice("webhook"))  # a channel that is off
    later = NOW + timedelta(hours=8)
    await d.deliver(notice(ChannelPlan(channel="email", not_before=later)))
    value = registry.get_sample_value
    assert value("duban_notifier_retried_total", {"channel": "wecom"}) == 1
    for channel in ("wecom", "email"):
        failed = {"channel": channel, "reason": "permanent"}
        assert value("duban_notifier_failed_total", failed) == 1
    assert value("duban_notifier_send_duration_seconds_count", {"channel": "wecom"}) == 2
    assert value("duban_notifier_dead_lettered_total", {"reason": "channels_failed"}) == 1
    assert value("duban_notifier_dead_lettered_total", {"reason": "no_channel"}) == 1
    assert value("duban_notifier_deferred_total", {"channel": "email"}) == 1


def test_failures_are_counted_by_a_bounded_reason_class() -> None:
    refused = DeliveryError("connection failed", retryable=True, reached_provider=False)
    limited = DeliveryError("no slot", retryable=True, provider_code="rate_limit")
    assert failure_reason(circuit_open("wecom")) == "circuit_open"
    assert failure_reason(limited) == "rate_limited"
    assert failure_reason(permanent()) == "permanent"
    assert failure_reason(refused) == "unreachable"
    assert failure_reason(server_error()) == "retries_exhausted"


async def test_the_ack_service_counts_and_serves_its_own_metrics() -> None:
    broker, registry = Broker(), Metrics()
    app = create_ack_app(
        Settings(), broker, clock=FakeClock(NOW), secret=SECRET, limits=LIMITS, metrics=registry
    )
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/ack", data={"t": token(NOW + timedelta(days=1))})).status == 200
        assert (
            await client.get("/ack", params={"t": token(NOW - timedelta(days=1))})
        ).status == 403
        assert (await client.get("/ack", params={"t": "forged"})).status == 403
        broker.error = TimeoutError()
        assert (
            await client.post("/ack", data={"t": token(NOW + timedelta(days=1), person="R2")})
        ).status == 503
        text = await (await client.get("/metrics")).text()
    samples = {
        (s.name, s.labels.get("reason")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("duban_ack_acknowledged_total", None)] == 1
    assert samples[("duban_ack_refused_total", "expired")] == 1
    assert samples[("duban_ack_refused_total", "invalid")] == 1
    assert samples[("duban_ack_refused_total", "unavailable")] == 1


async def test_the_port_serves_every_registry_health_and_readiness() -> None:
    engine, notifier = EngineMetrics(), NotifierMetrics(channels=["email"])
    engine.events.labels("applied").inc()

    async def ready() -> list[str]:
        return ["engine: Kafka unreachable"]

    runner = await serve_metrics(0, "127.0.0.1", [engine.registry, notifier.registry], ready)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/metrics") as response:
                text = await response.text()
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 503 and "Kafka" in await response.text()
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
    finally:
        await runner.cleanup()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    [applied] = [s for s in families["duban_events"].samples if s.name == "duban_events_total"]
    assert applied.labels == {"outcome": "applied"} and applied.value == 1
    assert {"duban_notifier_sent", "process_cpu_seconds"} <= set(families)
