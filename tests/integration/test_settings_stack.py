"""Settings on the real stack: services run on what `Settings.from_env` read at start,
secrets included, and nothing they do reads the process environment again."""

from __future__ import annotations

import json
import time
from dataclasses import fields
from typing import Any

import httpx
import pytest

from contracts.topics import Topics
from services.ack.app import acknowledgement_id
from services.ack.server import running_ack
from services.acktoken import AckClaim, sign
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import EXAMPLE, read_topic, wait_for
from tests.integration.deliverykit import notice, notice_publisher, receipts, use
from tests.providers import FakeWebhookReceiver

ACK_SECRET = "ack-secret-read-at-start-0123"


def stack_variables(settings: Settings) -> dict[str, str]:
    """The DUBAN_* variables ops would set for this test's stack, topics and groups."""
    topics = {
        f"DUBAN_TOPIC_{f.name.upper()}": getattr(settings.topics, f.name) for f in fields(Topics)
    }
    return {
        "DUBAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DUBAN_REDIS_URL": settings.redis_url,
        "DUBAN_ENGINE_GROUP": settings.engine_group,
        "DUBAN_NOTIFIER_GROUP": settings.notifier_group,
        "DUBAN_TOPIC_PARTITIONS": str(settings.topic_partitions),
        **topics,
    }


async def test_the_notifier_delivers_with_the_channel_secrets_read_at_start(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWebhookReceiver() as fake:
        use(monkeypatch)  # no proxy, and no DUBAN_* variable in the process environment
        env = {
            **stack_variables(settings),
            "DUBAN_WEBHOOK_URL": fake.url,
            "DUBAN_WEBHOOK_SECRET": fake.secret,  # the fake checks the signature with it
        }
        started = Settings.from_env(EXAMPLE, env)
        assert started.topics == settings.topics
        notifier = create_notifier(started, clock=clock)
        async with running(notifier.app), notice_publisher(started) as send:
            await send(notice(1, "webhook"))
            await wait_for(lambda: fake.accepted, what="the webhook call")
        [event] = await receipts(started, 1)
    call: dict[str, Any] = fake.accepted[0]
    assert call["delivery"] == "H1:rule:step:0:R1:webhook"
    assert event["type"] == "notice.delivered" and event["data"]["channel"] == "webhook"


async def test_the_ack_service_verifies_links_with_the_secret_read_at_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**stack_variables(settings), "DUBAN_ACK_SECRET": ACK_SECRET}
    started = Settings.from_env(EXAMPLE, env).model_copy(update={"ack_http_port": 0})
    monkeypatch.setenv("DUBAN_ACK_SECRET", "another-secret-set-after-start")
    token = sign(ACK_SECRET.encode(), AckClaim("H1:rule:step", "R1", int(time.time()) + 3600))
    async with running_ack(started) as runner:
        host, port = runner.addresses[0][:2]
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            answer = await client.post("/ack", data={"t": token})
    assert answer.status_code == 200
    [ack] = await read_topic(started.kafka_bootstrap, started.topics.notice_acks, 1)
    assert json.loads(ack.value)["id"] == acknowledgement_id("H1:rule:step", "R1")
