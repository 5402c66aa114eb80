"""Integration fixtures: the real local stack (Kafka, Redis), a real SMTP server, real services.

Each test gets its own topic names and consumer groups (so tests never see each other's
messages) and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from contracts.topics import Topics
from deploy.local.standins.smtp import FakeSmtpServer
from services.settings import Settings
from tests.fakes import FakeClock
from tests.stack import LocalStack as StackInfo
from tests.stack import ensure_stack

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
# `make run` uses database 0; tests never touch it (parallel runs may pick another).
TEST_REDIS_DB = int(os.environ.get("DUBAN_TEST_REDIS_DB", "1"))
POLL_INTERVAL_S = 0.05  # how often wait_for looks again; the timeout bounds the wait


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> StackInfo:
    return ensure_stack()


@pytest.fixture
async def redis(stack: StackInfo) -> AsyncIterator[Redis]:
    client = Redis.from_url(_db_url(stack.redis_url, TEST_REDIS_DB))
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def settings(stack: StackInfo, redis: Redis) -> AsyncIterator[Settings]:
    """Per-test topics (2 partitions, deleted afterwards: a broker holding thousands of
    partitions from earlier runs starts slowly) and consumer groups."""
    tag = uuid.uuid4().hex[:8]
    topics = Topics(**{f.name: f"{getattr(Topics(), f.name)}.{tag}" for f in fields(Topics)})
    yield Settings(
        config_dir=EXAMPLE,
        kafka_bootstrap=stack.kafka_bootstrap,
        redis_url=_db_url(stack.redis_url, TEST_REDIS_DB),
        topics=topics,
        engine_group=f"engine-{tag}",
        notifier_group=f"notifier-{tag}",
        timer_idle_poll_s=0.05,
        topic_partitions=2,
    )
    await _delete_topics(stack.kafka_bootstrap, [getattr(topics, f.name) for f in fields(topics)])


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 9, 1, 2, 0, tzinfo=UTC))  # 10:00 in Beijing


@pytest.fixture
async def smtp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        monkeypatch.setenv("DUBAN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DUBAN_SMTP_PORT", str(server.port))
        monkeypatch.setenv("DUBAN_SMTP_TLS", "none")
        monkeypatch.setenv("DUBAN_SMTP_FROM", "duban@test.example")
        yield server


@pytest.fixture
async def publish(stack: StackInfo) -> AsyncIterator[Callable[[str, Any], Awaitable[None]]]:
    """Produce like an outside publisher: plain aiokafka, JSON bytes, key = subject."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()

    async def send(topic: str, message: dict[str, Any] | bytes) -> None:
        if isinstance(message, bytes):
            await producer.send_and_wait(topic, message, key=b"garbage")
            return
        body = json.dumps(message, ensure_ascii=False).encode()
        await producer.send_and_wait(topic, body, key=message["subject"].encode())

    yield send
    await producer.stop()


@pytest.fixture
async def register_unit(
    settings: Settings, redis: Redis, publish: Callable[[str, Any], Awaitable[None]]
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """Publish unit.upserted and wait until the engine stored it (topics are not ordered
    with each other: a hazard racing its unit would be told to the committee office)."""

    async def register(event: dict[str, Any]) -> None:
        await publish(settings.topics.duty_events, event)
        key = f"duban:unit:{event['subject']}"
        await wait_for(lambda: _exists(redis, key), what=f"unit {event['subject']} stored")

    return register


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30, what: str = ""
) -> None:
    """Poll `condition` until true; fail with `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what or condition}")
        await asyncio.sleep(POLL_INTERVAL_S)


async def read_topic(bootstrap: str, topic: str, at_least: int, timeout_s: float = 60) -> list[Any]:
    """Every record on `topic` from the start, once at least `at_least` have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(records) < at_least and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        # One more short read: anything beyond what we waited for (e.g. a duplicate).
        for part in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(part)
    finally:
        await consumer.stop()
    return records


def later(clock: FakeClock, **delta: float) -> None:
    """Move the fake clock forward."""
    clock.advance(timedelta(**delta))


def with_timers_fast(settings: Settings) -> Settings:
    """Settings whose timer loop polls quickly."""
    return settings.model_copy(update={"timer_idle_poll_s": 0.05})


def _db_url(url: str, db: int) -> str:
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{db}"
