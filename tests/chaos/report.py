"""What the run left on Kafka (receipts, dead letters), the results file and the table."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import DLQ_HEADER_OFFSET, DLQ_HEADER_PARTITION, DLQ_HEADER_TOPIC, Topics

IN_DOUBT = "in doubt"  # the start of an in-doubt notice.failed reason


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record of `topic` (the run created it with `partitions`), from the start to
    its end now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=1000)
            for items in batch.values():
                records.extend(items)
        return records
    finally:
        await consumer.stop()


async def kafka_evidence(bootstrap: str, topics: Topics, partitions: int) -> dict[str, Any]:
    """Receipts per type, the in-doubt sends, the dead letters of both kinds."""
    receipts = await read_topic(bootstrap, topics.notice_receipts, partitions)
    types: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    in_doubt: set[str] = set()
    for record in receipts:
        event = json.loads(record.value)
        types[event["type"]] += 1
        ids[f"{event['type']}:{event['id']}"] += 1
        reason = str(event["data"].get("reason", ""))
        if event["type"] == "notice.failed" and reason.startswith(IN_DOUBT):
            in_doubt.add(event["id"])
    events_dlq = await read_topic(bootstrap, topics.dlq_events, partitions)
    notices_dlq = await read_topic(bootstrap, topics.dlq_notices, partitions)
    return {
        "receipts": dict(types),
        "receipts_published_more_than_once": _repeats(ids),
        "in_doubt": len(in_doubt),
        # A dead letter written again when its batch was redelivered has the same origin.
        "dead_lettered_events": len({_origin(r) for r in events_dlq}),
        "dead_letter_copies": len(events_dlq),
        "dead_lettered_notices": len(notices_dlq),
    }


def _origin(record: Any) -> tuple[str, str, str]:
    """Where a dead letter came from: its original topic, partition and offset."""
    headers = {k: v.decode() for k, v in record.headers}
    return (
        headers.get(DLQ_HEADER_TOPIC, ""),
        headers.get(DLQ_HEADER_PARTITION, ""),
        headers.get(DLQ_HEADER_OFFSET, ""),
    )


def _repeats(ids: Counter[str]) -> dict[str, int]:
    """Per receipt type, the copies beyond the first of one event id."""
    repeats: Counter[str] = Counter()
    for type_and_id, n in ids.items():
        if n > 1:
            repeats[type_and_id.split(":", 1)[0]] += n - 1
    return dict(repeats)


def table(results: dict[str, Any]) -> str:
    """The readable summary of chaos-results.json."""
    rows = [
        ("seed", results["seed"]),
        ("minutes judged (wall seconds)", f"{results['minutes']} ({results.get('wall_seconds')})"),
        ("redis", results.get("redis")),
        ("redis appendfsync", results.get("redis_appendfsync")),
        ("faults", ", ".join(f"{k} {v}" for k, v in sorted(results["faults"].items()))),
        ("events published (each once)", results["published"]["events"]),
        ("records published by kind", results["published"]["by_kind"]),
        ("expected deliveries (oracle)", results["expected"]),
        ("delivered", results["delivered"]),
        ("  by channel", results.get("delivered_by_channel")),
        ("lost", results["lost"]),
        ("raced by their closure, not sent", results.get("raced_not_sent")),
        ("duplicated", results["duplicated"]),
        ("  by channel", results["duplicated_by_channel"]),
        ("in doubt", results["in_doubt"]),
        ("unexpected", results["unexpected"]),
        (f"late (> {results['late_after_s']:.0f} s)", results["late"]),
        ("poison published / dead-lettered", f"{results['poison']} / {results['dead_lettered']}"),
        ("notices dead-lettered", results["notices_dead_lettered"]),
        ("receipts by type", results.get("receipts")),
        ("receipts published more than once", results["receipts_published_more_than_once"]),
        ("provider failures injected", results["provider_failures"]),
        ("recovered without help", results["recovered_without_help"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(["duban chaos run", "-" * (width + 30), *lines])
