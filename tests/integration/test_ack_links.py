"""Acknowledgement on the real stack: the email carries a signed link; opening it shows the
notice and publishes nothing; pressing 确认收到 (a POST) publishes notice.acknowledged to the
acks topic once, a second press says 已确认过 and publishes nothing more; a forged or
expired link gets a 403 page and publishes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from services.ack.app import create_ack_app
from services.acktoken import AckClaim, sign
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import read_topic, wait_for
from tests.providers import FakeSmtpServer, ReceivedMail

SECRET = "ack-integration-secret-0123456789"
TITLE = "储罐区可燃气体报警器失效"  # tests.helpers.reported's
LINK = re.compile(r"http://127\.0\.0\.1:\d+/ack\?t=[A-Za-z0-9_.%-]+")


@pytest.fixture
async def ack_server(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Settings, FakeClock]]:
    """The ack endpoint on a random port; settings whose links point at it."""
    monkeypatch.setenv("DUBAN_ACK_SECRET", SECRET)
    ack_clock = FakeClock(clock.now())
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-ack-test")
    await broker.start()
    redis = Redis.from_url(settings.redis_url)
    runner = web.AppRunner(create_ack_app(settings, broker, clock=ack_clock, redis=redis))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield settings.model_copy(update={"ack_base_url": f"http://127.0.0.1:{port}"}), ack_clock
    finally:
        await runner.cleanup()
        await broker.stop()
        await redis.aclose()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def report_to_r1(smtp: FakeSmtpServer) -> ReceivedMail | None:
    """The hazard's report email to R1 (the unit's duties may mail R1 too)."""
    for mail in smtp.messages:
        if mail.rcpt_tos == ["r1@unit.example"] and TITLE in text_of(mail.message):
            return mail
    return None


async def test_the_emailed_link_acknowledges_and_bad_links_do_not(
    ack_server: tuple[Settings, FakeClock],
    clock: FakeClock,
    smtp: FakeSmtpServer,
    publish,
    register_unit,
) -> None:
    settings, ack_clock = ack_server
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        await publish(
            settings.topics.hazard_events, reported("H1", at("2026-09-01 09:00"), date(2026, 12, 1))
        )
        await wait_for(lambda: report_to_r1(smtp) is not None, what="the report email to R1")
    mail = report_to_r1(smtp)
    assert mail is not None
    [link] = set(LINK.findall(text_of(mail.message)))
    forged = (
        link.split("?t=")[0]
        + "?t="
        + sign(b"not-the-secret", AckClaim("H1:major-report:report", "R1", 2_000_000_000))
    )
    token = parse_qs(urlsplit(link).query)["t"][0]
    action = link.split("?")[0]
    async with httpx.AsyncClient() as client:
        assert (await client.get(forged)).status_code == 403
        shown = await client.get(link)  # what a mail scanner or a preview does
        assert shown.status_code == 200 and ">确认收到</button>" in shown.text
        assert "重大事故隐患" in shown.text and "确认后仅停止本通知的重复提醒" in shown.text
        ok = await client.post(action, data={"t": token})
        assert ok.status_code == 200 and "已确认收到" in ok.text
        again = await client.post(action, data={"t": token})
        assert again.status_code == 200 and "已确认过" in again.text
        ack_clock.advance(timedelta(days=31))  # links live 30 days
        assert (await client.get(link)).status_code == 403
        assert (await client.post(action, data={"t": token})).status_code == 403
    acks = await read_topic(settings.kafka_bootstrap, settings.topics.notice_acks, 1)
    # Neither the GETs, the second press, the forged nor the expired link published.
    assert len(acks) == 1
    event = json.loads(acks[0].value)
    assert event["type"] == "notice.acknowledged"
    assert event["data"]["person_id"] == "R1"
    requested = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 2)
    [notice_id] = {
        data["notice_id"]
        for data in (json.loads(r.value)["data"] for r in requested)
        if data["recipient"]["person_id"] == "R1" and data["kind"] == "report"
    }
    assert event["data"]["notice_id"] == event["subject"] == notice_id
    assert acks[0].key == event["subject"].encode()
