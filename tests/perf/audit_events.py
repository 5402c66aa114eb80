"""What the audit bench works on: its databases, and the records it fills Kafka with."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
from aiokafka import AIOKafkaProducer

from contracts.topics import Topics
from tests.perf.common import REPO_ROOT
from tests.stack import LocalStack

CONFIG = REPO_ROOT / "deploy" / "config" / "example"
EXAMPLES = REPO_ROOT / "contracts" / "examples"
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def database(stack: LocalStack, name: str, create: bool) -> str:
    with psycopg.connect(stack.postgres_url, autocommit=True) as admin:
        verb = (
            f"CREATE DATABASE {name}" if create else f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )
        admin.execute(verb.encode())
    return stack.postgres_url.rsplit("/", 1)[0] + "/" + name


def events(count: int) -> list[tuple[str, bytes, bytes]]:
    """(topic name field, key, value): a notice, its receipt, a hazard event, in turn."""
    notice = json.loads((EXAMPLES / "notice.requested.json").read_text(encoding="utf-8"))
    receipt = json.loads((EXAMPLES / "notice.delivered.json").read_text(encoding="utf-8"))
    hazard = json.loads((EXAMPLES / "hazard.progress.json").read_text(encoding="utf-8"))
    out = []
    for n in range(count):
        kind = n % 3
        subject = f"hazard:HZ-{n // 30}:rule:step:{n // 3}"
        if kind == 0:
            event = {**notice, "id": f"n-{n}", "subject": subject}
            event["data"] = {**notice["data"], "notice_id": subject, "subject": f"HZ-{n // 30}"}
            out.append(("notice_requested", subject.encode(), json.dumps(event).encode()))
        elif kind == 1:
            event = {**receipt, "id": f"r-{n}", "subject": subject}
            event["data"] = {**receipt["data"], "notice_id": subject}
            out.append(("notice_receipts", subject.encode(), json.dumps(event).encode()))
        else:
            hazard_id = f"HZ-{n // 30}"
            event = {**hazard, "id": f"h-{n}", "subject": hazard_id}
            event["data"] = {**hazard["data"], "hazard_id": hazard_id}
            out.append(("hazard_events", hazard_id.encode(), json.dumps(event).encode()))
    return out


async def fill(bootstrap: str, topics: Topics, events: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, acks=1
    )
    await producer.start()
    try:
        pending = [
            await producer.send(getattr(topics, field), value, key=key)
            for field, key, value in events
        ]
        for future in pending:
            await future
    finally:
        await producer.stop()
