"""The hostile-input suite on the real stack: every hostile record is dead-lettered with a
reason (or accepted where valid), the canary after it with the same key is processed,
no partition stays blocked, and nothing secret or personal is left in clear in logs,
receipts or dead-letter headers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from copy import deepcopy
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.asyncio import Redis

from contracts.topics import (
    DLQ_HEADER_REASON,
    DLQ_HEADER_SHA256,
    DLQ_HEADER_SIZE,
    DLQ_HEADER_TRUNCATED,
)
from deploy.local.standins.smtp import FakeSmtpServer
from services.engine.app import create_engine
from services.logs import MaskingFormatter
from services.masking import register_secrets
from services.notifier.app import create_notifier
from services.offsets import consumer_lag
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.hostile.corpus import EMAIL, MOBILE, SECRET, example, hazard_records, notice_records
from tests.integration.conftest import read_topic, wait_for

DEADLINE = date(2026, 12, 1)
BIG = 4 * 1024 * 1024  # inbound topics take records larger than the dead-letter topics do


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything logged, formatted as the services format it (masked)."""
    register_secrets([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(MaskingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """An outside publisher allowed to send 2 MB records, to topics that take them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    names = [*settings.topics.inbound(), settings.topics.notice_requested]
    config = {"max.message.bytes": str(BIG)}
    await admin.create_topics([NewTopic(n, 2, 1, topic_configs=config) for n in names])
    await admin.close()
    client = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=BIG
    )
    await client.start()
    yield client
    await client.stop()


def assert_nothing_in_clear(*texts: str) -> None:
    for text in texts:
        for value in (MOBILE, EMAIL, SECRET):
            assert value not in text, f"{value!r} in clear in: {text[:300]!r}"


def headers_of(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_hostile_hazard_records_are_dead_lettered_and_canaries_processed(
    settings: Settings, clock: FakeClock, redis: Redis, producer, register_unit, logs
) -> None:
    corpus = hazard_records(reported("HX", at("2026-09-01 09:00"), DEADLINE))
    engine = create_engine(settings, clock=clock)
    async with running(engine.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        for n, (_, raw, _) in enumerate(corpus):
            key = f"HX-{n}".encode()
            await producer.send_and_wait(settings.topics.hazard_events, raw, key=key)
            canary = reported(f"HX-{n}", at("2026-09-01 09:00"), DEADLINE)
            await producer.send_and_wait(
                settings.topics.hazard_events, json.dumps(canary).encode(), key=key
            )

        async def canaries_stored() -> bool:
            found = await redis.exists(*[f"duban:hazard:HX-{n}" for n in range(len(corpus))])
            return found == len(corpus)

        await wait_for(canaries_stored, timeout_s=60, what="every canary applied")
    letters = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_events, len(corpus))
    assert len(letters) == len(corpus)  # every hostile record, each once
    by_key = {r.key.decode(): r for r in letters}
    assert sorted(by_key) == sorted(f"HX-{n}" for n in range(len(corpus)))  # keys kept
    for n, (name, raw, _) in enumerate(corpus):
        headers = headers_of(by_key[f"HX-{n}"])
        reason = headers[DLQ_HEADER_REASON]
        assert reason and "Traceback" not in reason, name
        assert "RecursionError" not in reason and "OverflowError" not in reason, name
        if len(raw) > 1_000_000:
            assert headers[DLQ_HEADER_TRUNCATED] == "true" and headers[DLQ_HEADER_SIZE] == str(
                len(raw)
            ), name
            assert len(headers[DLQ_HEADER_SHA256]) == 64
        else:
            assert by_key[f"HX-{n}"].value == raw, name  # the original bytes
        assert_nothing_in_clear(reason)
    assert_nothing_in_clear(logs.getvalue())


async def test_ten_thousand_duplicates_decide_one_report(
    settings: Settings, clock: FakeClock, producer, register_unit
) -> None:
    event = json.dumps(reported("HD", at("2026-09-01 09:00"), DEADLINE)).encode()
    engine = create_engine(settings, clock=clock)
    async with running(engine.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        sends = [
            await producer.send(settings.topics.hazard_events, event, key=b"HD")
            for _ in range(10_000)
        ]
        for sent in sends:
            await sent

        async def all_consumed() -> bool:
            topics = settings.topics.inbound()
            return await consumer_lag(settings.kafka_bootstrap, settings.engine_group, topics) == 0

        await wait_for(all_consumed, timeout_s=90, what="10,000 duplicates consumed")
        notices = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 2)
    ids = [json.loads(r.value)["id"] for r in notices]
    assert ids and len(ids) == len(set(ids))


JUNK = [
    ("nested 1,000 levels (2 KB)", b"[" * 1000 + b"]" * 1000),
    ("invalid UTF-8", b"\xff\xfe{}"),
    ("2 MB junk", b"x" * 2_000_000),
    ("not JSON", b"\x00\x01hello"),
]


async def test_junk_on_the_unit_and_ack_topics_is_dead_lettered_and_nothing_blocks(
    settings: Settings, clock: FakeClock, redis: Redis, producer, logs
) -> None:
    engine = create_engine(settings, clock=clock)
    topics = [settings.topics.duty_events, settings.topics.notice_acks]
    async with running(engine.app):
        for topic in topics:
            for n, (_, raw) in enumerate(JUNK):
                key = f"UX-{n}".encode()
                await producer.send_and_wait(topic, raw, key=key)
                canary = unit_upserted(f"UX-{n}", at("2026-08-01 08:00"))
                if topic == settings.topics.duty_events:
                    await producer.send_and_wait(topic, json.dumps(canary).encode(), key=key)

        async def units_stored() -> bool:
            found = await redis.exists(*[f"duban:unit:UX-{n}" for n in range(len(JUNK))])
            return found == len(JUNK)

        async def all_consumed() -> bool:
            lag = await consumer_lag(settings.kafka_bootstrap, settings.engine_group, topics)
            return lag == 0

        await wait_for(units_stored, timeout_s=60, what="every unit canary applied")
        await wait_for(all_consumed, timeout_s=60, what="no partition blocked")
    letters = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_events, 2 * len(JUNK))
    origins = sorted((headers_of(r)["duban-original-topic"], r.key.decode()) for r in letters)
    assert origins == sorted((t, f"UX-{n}") for t in topics for n in range(len(JUNK)))
    assert_nothing_in_clear(logs.getvalue())


def canary_notice(n: int) -> dict[str, Any]:
    notice = deepcopy(example("notice.requested"))
    data = notice["data"]
    notice["id"] = f"canary-{n}"
    notice["subject"] = data["notice_id"] = f"ntc-canary-{n}"
    data["recipient"]["email"] = f"canary{n}@unit.example"
    data["channels"] = [{"channel": "email", "not_before": None}]
    return notice


async def test_hostile_notices_are_dead_lettered_and_canaries_delivered(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, producer, logs
) -> None:
    corpus = notice_records(canary_notice(-1))
    notifier = create_notifier(settings, clock=clock)
    async with running(notifier.app):
        for n, (_, raw, _) in enumerate(corpus):
            key = f"ntc-canary-{n}".encode()
            await producer.send_and_wait(settings.topics.notice_requested, raw, key=key)
            canary = json.dumps(canary_notice(n), ensure_ascii=False).encode()
            await producer.send_and_wait(settings.topics.notice_requested, canary, key=key)
        wanted = {f"canary{n}@unit.example" for n in range(len(corpus))}

        def delivered() -> bool:
            return wanted <= {r for m in smtp.messages for r in m.rcpt_tos}

        await wait_for(delivered, timeout_s=60, what="every canary notice delivered")
    refused = [name for name, _, may_pass in corpus if not may_pass]
    letters = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, len(refused))
    assert len(letters) >= len(refused)
    for letter in letters:
        reason = headers_of(letter).get(DLQ_HEADER_REASON, "")
        assert reason and "Traceback" not in reason
        assert_nothing_in_clear(reason)
    receipts = await read_topic(
        settings.kafka_bootstrap, settings.topics.notice_receipts, len(corpus)
    )
    assert_nothing_in_clear(*(r.value.decode() for r in receipts))
    assert_nothing_in_clear(logs.getvalue())
