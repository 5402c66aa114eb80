"""Publish an example unit and a major hazard to the local Kafka, as a publisher would.

Uses plain aiokafka and JSON — nothing of duban's — so it doubles as a sketch for
publishers in other languages: one CloudEvent per message, key = subject.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiokafka import AIOKafkaProducer

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
CST = timezone(timedelta(hours=8))


def fresh(name: str, now: datetime) -> dict:
    """An example event with a new id and the current time (so it is not a duplicate)."""
    event = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    event["id"] = str(uuid.uuid4())
    event["time"] = now.isoformat()
    return event


async def main() -> None:
    bootstrap = os.environ.get("DUBAN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    now = datetime.now(CST).replace(microsecond=0)
    unit = fresh("unit.upserted", now)
    hazard = fresh("hazard.reported", now + timedelta(seconds=1))
    hazard_id = f"HZ-DEMO-{now:%Y%m%d%H%M%S}"
    hazard["subject"] = hazard["data"]["hazard_id"] = hazard_id
    hazard["time"] = hazard["data"]["found_at"] = (now + timedelta(seconds=1)).isoformat()
    hazard["data"]["deadline"] = (now + timedelta(days=30)).date().isoformat()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, event in (("duty.events", unit), ("hazard.events", hazard)):
            await producer.send_and_wait(
                topic,
                json.dumps(event, ensure_ascii=False).encode(),
                key=event["subject"].encode(),
            )
            print(f"published {event['type']} {event['subject']} to {topic}")
    finally:
        await producer.stop()
    print("The report notice should arrive as .eml files in .stack/mail/ within seconds.")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
