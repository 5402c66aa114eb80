"""Metrics scraped over HTTP on the real stack: one delivered notice counted by the
notifier, its event by the engine; `duban run all` serving every service's registry (and
the ack service its own), each exposition parsed by prometheus_client's parser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import fields
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.topics import Topics
from deploy.local.standins.smtp import FakeSmtpServer
from services.engine.app import create_engine
from services.metrics import serve_metrics
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import TEST_REDIS_DB, wait_for
from tests.integration.processes import ready, stop
from tests.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
DUBAN = Path(sys.executable).parent / "duban"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


def samples_of(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (the parser raises on invalid text)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_one_delivered_notice_is_counted_and_scraped(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish, register_unit
) -> None:
    unit = unit_upserted("U1", at("2026-08-01 08:00"))
    controller = unit["data"]["contacts"]["controller"]
    del controller["email"], controller["mobile"]  # only the webhook, which is off here
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        server = await serve_metrics(0, "127.0.0.1", [engine.metrics, notifier.metrics])
        url = f"http://127.0.0.1:{server.addresses[0][1]}/metrics"
        try:
            await register_unit(unit)
            await publish(
                settings.topics.hazard_events,
                reported("H1", at("2026-09-01 09:00"), date(2026, 12, 1)),
            )

            async def both_notices_settled() -> bool:
                samples = samples_of(await scrape(url))
                sent = value(samples, "duban_notifier_sent_total", channel="email")
                dead = value(samples, "duban_notifier_dead_lettered_total", reason="no_channel")
                return sent == 1 and dead == 1

            await wait_for(both_notices_settled, what="one email sent, one notice dead-lettered")
            samples = samples_of(await scrape(url))
        finally:
            await server.cleanup()
    assert [m.rcpt_tos for m in smtp.messages] == [["r1@unit.example"]]
    assert value(samples, "duban_notifier_sent_total", channel="email") == 1
    assert value(samples, "duban_notifier_send_duration_seconds_count", channel="email") == 1
    assert value(samples, "duban_events_total", outcome="applied") == 1
    assert value(samples, "duban_notices_requested_total") == 2
    batches = value(samples, "duban_engine_batch_duration_seconds_count")
    assert batches is not None and batches >= 2  # the unit's batch and the hazard's
    assert value(samples, "process_cpu_seconds_total") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def run_all(stack: LocalStack) -> Iterator[tuple[int, int]]:
    """`duban run all` on free ports and this test's topics, groups and Redis database."""
    tag, metrics_port, ack_port = uuid.uuid4().hex[:8], free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")},
        **{
            f"DUBAN_TOPIC_{f.name.upper()}": f"{getattr(Topics(), f.name)}.{tag}"
            for f in fields(Topics)
        },
        "DUBAN_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "DUBAN_REDIS_URL": stack.redis_url.rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}",
        "DUBAN_ENGINE_GROUP": f"engine-{tag}",
        "DUBAN_NOTIFIER_GROUP": f"notifier-{tag}",
        "DUBAN_TOPIC_PARTITIONS": "2",
        "DUBAN_METRICS_PORT": str(metrics_port),
        "DUBAN_ACK_HTTP_PORT": str(ack_port),
        "DUBAN_ACK_SECRET": "metrics-scrape-secret",
    }
    command = [str(DUBAN), "run", "all", "--config", str(ROOT / "deploy/config/example")]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield metrics_port, ack_port
    finally:
        stop(process)


def families(text: str) -> list[str]:
    return [family.name for family in text_string_to_metric_families(text)]


async def test_run_all_serves_every_registry_and_the_ack_service_its_own(
    run_all: tuple[int, int],
) -> None:
    metrics_port, ack_port = run_all
    for port in run_all:
        await wait_for(lambda p=port: ready(p), timeout_s=90, what=f"/readyz on {port}")
    served = families(await scrape(f"http://127.0.0.1:{metrics_port}/metrics"))
    assert len(served) == len(set(served))  # no name twice: the registries sit side by side
    for name in ("duban_events", "duban_engine_timer_lag_seconds", "duban_notifier_sent"):
        assert name in served
    assert "duban_channel_circuit_open" in served and "process_cpu_seconds" in served
    assert not [name for name in served if name.startswith("duban_ack_")]
    own = families(await scrape(f"http://127.0.0.1:{ack_port}/metrics"))
    assert {"duban_ack_acknowledged", "duban_ack_refused"} <= set(own)
