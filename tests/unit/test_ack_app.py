"""The acknowledgement endpoint: a valid link publishes one ack, anything else a 403;
HEAD publishes nothing; Kafka trouble answers 503 in bounded time; health tells the truth."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.errors import KafkaConnectionError

from services.ack.app import AckLimits, acknowledgement_id, create_ack_app
from services.acktoken import AckClaim, sign
from services.settings import Settings
from tests.fakes import FakeClock

SECRET = b"ack-unit-secret-0123456789"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


NOTICE, PERSON = "H1:major-overdue:letter", "R1"
LIMITS = AckLimits(publish_timeout_s=0.2, ready_timeout_s=0.2)


@dataclass
class Broker:
    """Records what the endpoint publishes; can be unreachable, failing or hanging."""

    published: list[tuple[bytes, str, dict[str, Any]]] = field(default_factory=list)
    reachable: bool = True
    error: Exception | None = None  # raised by publish
    hangs: bool = False  # publish never returns (a broker that took the request and went)

    async def publish(self, message: bytes, topic: str, **kw: Any) -> None:
        if self.hangs:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        self.published.append((message, topic, kw))

    async def ping(self, timeout: float | None) -> bool:
        return self.reachable


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
async def served(clock: FakeClock, broker: Broker) -> AsyncIterator[tuple[TestClient, Broker]]:
    app = create_ack_app(Settings(), broker, clock=clock, secret=SECRET, limits=LIMITS)
    async with TestClient(TestServer(app)) as client:
        yield client, broker


def token(expires: datetime, secret: bytes = SECRET, person: str = PERSON) -> str:
    return sign(secret, AckClaim(NOTICE, person, int(expires.timestamp())))


async def test_a_valid_link_publishes_the_acknowledgement(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    response = await client.get("/ack", params={"t": token(NOW + timedelta(days=30))})
    assert response.status == 200 and "已确认收到" in await response.text()
    [(body, topic, kw)] = broker.published
    event = json.loads(body)
    assert topic == "notice.acks" and kw["key"] == b"H1:major-overdue:letter"
    assert event["type"] == "notice.acknowledged" and event["subject"] == event["data"]["notice_id"]
    assert event["data"]["person_id"] == "R1"
    assert event["data"]["acknowledged_at"].startswith("2026-09-01T02:00")


async def test_clicking_twice_publishes_the_same_event_id(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    link = token(NOW + timedelta(days=1))
    for _ in range(2):
        assert (await client.get("/ack", params={"t": link})).status == 200
    ids = {json.loads(body)["id"] for body, _, _ in broker.published}
    assert len(broker.published) == 2 and len(ids) == 1  # the engine drops the duplicate


@pytest.mark.parametrize(
    "link",
    [
        token(NOW + timedelta(days=1), secret=b"forged-secret"),
        token(NOW - timedelta(seconds=1)),
        "garbage",
        "",
    ],
    ids=["forged", "expired", "malformed", "missing"],
)
async def test_a_bad_link_is_refused_and_nothing_is_published(
    served: tuple[TestClient, Broker], link: str
) -> None:
    client, broker = served
    response = await client.get("/ack", params={"t": link} if link else {})
    assert response.status == 403 and "链接无效或已过期" in await response.text()
    assert broker.published == []


def test_the_endpoint_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUBAN_ACK_SECRET", raising=False)
    with pytest.raises(RuntimeError, match="DUBAN_ACK_SECRET"):
        create_ack_app(Settings(), Broker())


async def test_links_of_one_person_for_one_notice_publish_one_event_id(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    links = [token(NOW + timedelta(days=1)), token(NOW + timedelta(days=30))]  # e.g. a resend
    other_person = token(NOW + timedelta(days=1), person="R2")
    for link in [*links, other_person]:
        assert (await client.get("/ack", params={"t": link})).status == 200
    first, second, other = (json.loads(body)["id"] for body, _, _ in broker.published)
    assert first == second == acknowledgement_id(NOTICE, PERSON)
    assert other != first


@pytest.mark.parametrize(
    "suffix", ["=", "==", "!!", " ", "\r\n"], ids=["pad", "pad2", "junk", "space", "crlf"]
)
async def test_another_text_of_a_valid_link_is_refused_and_nothing_is_published(
    served: tuple[TestClient, Broker], suffix: str
) -> None:
    client, broker = served
    variant = token(NOW + timedelta(days=1)) + suffix
    response = await client.get("/ack", params={"t": variant})
    assert response.status == 403 and "链接无效或已过期" in await response.text()
    assert broker.published == []


async def test_head_on_a_valid_link_publishes_nothing(served: tuple[TestClient, Broker]) -> None:
    client, broker = served
    link = token(NOW + timedelta(days=1))
    response = await client.head("/ack", params={"t": link})
    assert response.status == 405 and broker.published == []
    assert (await client.get("/ack", params={"t": link})).status == 200
    assert len(broker.published) == 1  # the link still works afterwards


async def test_liveness_is_ok_even_when_kafka_is_not(served: tuple[TestClient, Broker]) -> None:
    client, broker = served
    broker.reachable = False
    response = await client.get("/healthz")
    assert response.status == 200 and await response.text() == "ok"


async def test_readiness_follows_kafka(served: tuple[TestClient, Broker]) -> None:
    client, broker = served
    ready = await client.get("/readyz")
    assert ready.status == 200 and await ready.text() == "ready\n"
    broker.reachable = False
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503 and await not_ready.text() == "ack: Kafka unreachable\n"


@pytest.mark.parametrize(
    "trouble",
    [{"hangs": True}, {"error": KafkaConnectionError("Unable to bootstrap")}],
    ids=["publish-hangs", "kafka-error"],
)
async def test_kafka_trouble_answers_busy_and_logs_without_the_token(
    served: tuple[TestClient, Broker], trouble: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client, broker = served
    broker.hangs = trouble.get("hangs", False)
    broker.error = trouble.get("error")
    link = token(NOW + timedelta(days=1))
    with caplog.at_level(logging.WARNING, logger="duban.ack"):
        response = await client.get("/ack", params={"t": link})  # within LIMITS' 0.2 s
    assert response.status == 503 and "系统繁忙，请稍后再试" in await response.text()
    assert broker.published == []
    [record] = [r for r in caplog.records if r.name == "duban.ack"]
    assert record.levelname == "WARNING" and NOTICE in record.getMessage()
    assert link not in caplog.text and link.split(".")[1] not in caplog.text
