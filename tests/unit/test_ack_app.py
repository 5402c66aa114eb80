"""The acknowledgement endpoint: a valid link publishes one ack, anything else a 403."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.ack.app import create_ack_app
from services.ack.token import AckClaim, sign
from services.settings import Settings
from tests.fakes import FakeClock

SECRET = b"ack-unit-secret-0123456789"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@dataclass
class Broker:
    """Records what the endpoint publishes."""

    published: list[tuple[bytes, str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, **kw: Any) -> None:
        self.published.append((body, topic, kw))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def served(clock: FakeClock) -> AsyncIterator[tuple[TestClient, Broker]]:
    broker = Broker()
    app = create_ack_app(Settings(), broker, clock=clock, secret=SECRET)  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        yield client, broker


def token(expires: datetime, secret: bytes = SECRET) -> str:
    return sign(secret, AckClaim("H1:major-overdue:letter", "R1", int(expires.timestamp())))


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
        create_ack_app(Settings(), Broker())  # type: ignore[arg-type]
