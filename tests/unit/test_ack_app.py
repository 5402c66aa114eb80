"""The acknowledgement page: GET shows the notice and publishes nothing; only POST publishes
the ack, once (a second POST says 已确认过); a bad link gets a 403 page; HEAD publishes
nothing; Kafka trouble answers 503 in bounded time; health tells the truth."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.errors import KafkaConnectionError

from contracts.notice import NoticeRequested
from services.ack.acked import MemoryAcked
from services.ack.app import AckLimits, acknowledgement_id, create_ack_app
from services.ack.page import SCOPE
from services.acktoken import AckClaim, AckDetails, sign
from services.notifier.acklinks import AckLinks
from services.settings import Settings
from tests.fakes import FakeClock

SECRET = b"ack-unit-secret-0123456789"
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


NOTICE, PERSON = "H1:major-overdue:letter", "R1"
LIMITS = AckLimits(publish_timeout_s=0.2, ready_timeout_s=0.2, store_timeout_s=0.2)
LETTER = AckDetails(
    kind="escalation",
    action="letter",
    level="major",
    title="液氨储罐区未设置泄漏报警装置",
    unit="白土镇化工有限公司",
    deadline="2026-08-20",
)


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
def acked() -> MemoryAcked:
    return MemoryAcked()


@pytest.fixture
async def served(
    clock: FakeClock, broker: Broker, acked: MemoryAcked
) -> AsyncIterator[tuple[TestClient, Broker]]:
    app = create_ack_app(Settings(), broker, clock=clock, secret=SECRET, limits=LIMITS, acked=acked)
    async with TestClient(TestServer(app)) as client:
        yield client, broker


def token(
    expires: datetime,
    secret: bytes = SECRET,
    person: str = PERSON,
    details: AckDetails = LETTER,
) -> str:
    return sign(secret, AckClaim(NOTICE, person, int(expires.timestamp()), details))


async def confirm(client: TestClient, link: str) -> ClientResponse:
    """What pressing 确认收到 sends: the token as form field t."""
    return await client.post("/ack", data={"t": link})


async def test_get_shows_the_notice_on_a_phone_and_publishes_nothing(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    link = token(NOW + timedelta(days=30))
    for _ in range(3):  # a link scanner, a chat preview, the person
        response = await client.get("/ack", params={"t": link})
        assert response.status == 200
    page = await response.text()
    assert broker.published == []
    assert 'name="viewport"' in page and 'lang="zh-CN"' in page
    for shown in ("逾期督办（函告）", "重大事故隐患", LETTER.title, LETTER.unit, "2026年8月20日"):
        assert shown in page, shown
    assert SCOPE in page  # only the repeats stop; the deadline stands
    assert '<form method="post" action="ack">' in page and ">确认收到</button>" in page
    assert f'name="t" value="{link}"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_post_publishes_the_acknowledgement_once(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    response = await confirm(client, token(NOW + timedelta(days=30)))
    page = await response.text()
    assert response.status == 200 and "已确认收到" in page and SCOPE in page
    assert LETTER.title in page and "<form" not in page
    [(body, topic, kw)] = broker.published
    event = json.loads(body)
    assert topic == "notice.acks" and kw["key"] == b"H1:major-overdue:letter"
    assert event["type"] == "notice.acknowledged" and event["subject"] == event["data"]["notice_id"]
    assert event["id"] == acknowledgement_id(NOTICE, PERSON)
    assert event["data"]["person_id"] == "R1" and event["data"]["channel"] == "link"
    assert event["data"]["acknowledged_at"].startswith("2026-09-01T02:00")


async def test_a_second_post_publishes_nothing_more_and_says_already_confirmed(
    served: tuple[TestClient, Broker], clock: FakeClock
) -> None:
    client, broker = served
    link = token(NOW + timedelta(days=1))
    assert (await confirm(client, link)).status == 200
    clock.advance(timedelta(hours=1))
    again = await confirm(client, link)
    page = await again.text()
    assert again.status == 200 and "已确认过" in page
    assert "2026年9月1日 10:00" in page  # when, in Beijing time
    assert "<form" not in page
    assert len(broker.published) == 1
    shown = await (await client.get("/ack", params={"t": link})).text()
    assert "已确认收到" in shown and "<form" not in shown and len(broker.published) == 1


async def test_links_of_one_person_for_one_notice_acknowledge_once(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    links = [token(NOW + timedelta(days=1)), token(NOW + timedelta(days=30))]  # e.g. a resend
    other_person = token(NOW + timedelta(days=1), person="R2")
    pages = [await (await confirm(client, link)).text() for link in [*links, other_person]]
    assert "已确认收到" in pages[0] and "已确认过" in pages[1] and "已确认收到" in pages[2]
    first, other = (json.loads(body)["id"] for body, _, _ in broker.published)
    assert first == acknowledgement_id(NOTICE, PERSON)
    assert other == acknowledgement_id(NOTICE, "R2") != first


async def test_without_the_store_a_post_still_acknowledges_with_the_same_event_id(
    served: tuple[TestClient, Broker], acked: MemoryAcked, caplog: pytest.LogCaptureFixture
) -> None:
    client, broker = served
    acked.failing = True  # Redis down: the page cannot tell a repeat, the engine can
    link = token(NOW + timedelta(days=1))
    with caplog.at_level(logging.WARNING, logger="duban.ack"):
        for _ in range(2):
            response = await confirm(client, link)
            assert response.status == 200 and "已确认收到" in await response.text()
    ids = {json.loads(body)["id"] for body, _, _ in broker.published}
    assert len(broker.published) == 2 and ids == {acknowledgement_id(NOTICE, PERSON)}
    assert "store unavailable" in caplog.text and link not in caplog.text


async def test_a_link_made_before_details_existed_still_works(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    old = token(NOW + timedelta(days=1), details=AckDetails())
    page = await (await client.get("/ack", params={"t": old})).text()
    assert "督办通知" in page and NOTICE in page and ">确认收到</button>" in page
    assert (await confirm(client, old)).status == 200 and len(broker.published) == 1


async def test_a_duty_notice_shows_its_label_and_period_end(
    served: tuple[TestClient, Broker],
) -> None:
    client, _ = served
    duty = AckDetails(
        kind="duty",
        action="letter",
        title="evacuation_drill",
        unit="白土镇化工有限公司",
        deadline="2026-12-31",
    )
    page = await (
        await client.get("/ack", params={"t": token(NOW + timedelta(days=1), details=duty)})
    ).text()
    for shown in ("履职函告", "应急疏散演练", "本期截止", "2026年12月31日"):
        assert shown in page, shown


async def test_text_from_the_token_is_escaped(served: tuple[TestClient, Broker]) -> None:
    client, _ = served
    hostile = AckDetails(kind="report", title='<script>alert("x")</script>', unit="A&B")
    page = await (
        await client.get("/ack", params={"t": token(NOW + timedelta(days=1), details=hostile)})
    ).text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "A&amp;B" in page


BAD_LINKS = [
    token(NOW + timedelta(days=1), secret=b"forged-secret"),
    token(NOW - timedelta(seconds=1)),
    "garbage",
    "",
]
BAD_IDS = ["forged", "expired", "malformed", "missing"]


@pytest.mark.parametrize("link", BAD_LINKS, ids=BAD_IDS)
async def test_a_bad_link_gets_a_403_page_and_nothing_is_published(
    served: tuple[TestClient, Broker], link: str
) -> None:
    client, broker = served
    shown = await client.get("/ack", params={"t": link} if link else {})
    posted = await client.post("/ack", data={"t": link} if link else {})
    for response in (shown, posted):
        page = await response.text()
        assert response.status == 403 and "链接无效或已过期" in page and "<form" not in page
    assert broker.published == []


async def test_an_altered_link_is_refused(served: tuple[TestClient, Broker]) -> None:
    client, broker = served
    signature = token(NOW + timedelta(days=1)).split(".")[1]
    other = token(NOW + timedelta(days=1), person="R9").split(".")[0]
    response = await confirm(client, f"{other}.{signature}")  # someone else's ack, our sig
    assert response.status == 403 and broker.published == []


async def test_a_token_in_the_query_of_a_post_acknowledges_nothing(
    served: tuple[TestClient, Broker],
) -> None:
    client, broker = served
    response = await client.post("/ack", params={"t": token(NOW + timedelta(days=1))})
    assert response.status == 403 and broker.published == []


def test_the_endpoint_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUBAN_ACK_SECRET", raising=False)
    with pytest.raises(RuntimeError, match="DUBAN_ACK_SECRET"):
        create_ack_app(Settings(), Broker())


@pytest.mark.parametrize(
    "suffix", ["=", "==", "!!", " ", "\r\n"], ids=["pad", "pad2", "junk", "space", "crlf"]
)
async def test_another_text_of_a_valid_link_is_refused_and_nothing_is_published(
    served: tuple[TestClient, Broker], suffix: str
) -> None:
    client, broker = served
    variant = token(NOW + timedelta(days=1)) + suffix
    response = await confirm(client, variant)
    assert response.status == 403 and "链接无效或已过期" in await response.text()
    assert broker.published == []


async def test_head_on_a_valid_link_publishes_nothing(served: tuple[TestClient, Broker]) -> None:
    client, broker = served
    link = token(NOW + timedelta(days=1))
    response = await client.head("/ack", params={"t": link})
    assert response.status == 405 and broker.published == []
    assert (await confirm(client, link)).status == 200
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
        response = await confirm(client, link)  # within LIMITS' 0.2 s
    page = await response.text()
    assert response.status == 503 and "系统繁忙，请稍后再试" in page
    assert ">确认收到</button>" in page  # the person can press again later
    assert broker.published == []
    [record] = [r for r in caplog.records if r.name == "duban.ack"]
    assert record.levelname == "WARNING" and NOTICE in record.getMessage()
    assert link not in caplog.text and link.split(".")[1] not in caplog.text
    broker.hangs, broker.error = False, None  # Kafka is back: pressing again works
    again = await confirm(client, link)
    assert again.status == 200 and "已确认收到" in await again.text()
    assert len(broker.published) == 1


async def test_a_link_the_notifier_makes_shows_its_notice(
    served: tuple[TestClient, Broker], clock: FakeClock
) -> None:
    client, broker = served
    example = Path(__file__).resolve().parents[2] / "contracts/examples/notice.requested.json"
    notice = NoticeRequested.model_validate(json.loads(example.read_text("utf-8"))["data"])
    links = AckLinks(SECRET, "http://127.0.0.1:8086", clock)
    url = links.url_for(notice)
    assert url is not None
    response = await client.get("/ack", params={"t": unquote(url.split("?t=")[1])})
    page = await response.text()
    facts = notice.facts
    for shown in ("逾期督办（函告）", facts["title"], facts["unit_name"], "重大事故隐患"):
        assert shown in page, shown
    assert "2026年4月30日" in page and broker.published == []
