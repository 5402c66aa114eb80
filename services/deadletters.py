"""Dead letters on Kafka: read a dead-letter topic, describe each record, plan replays.

Reading never joins a consumer group and never commits: listing changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from contracts.notice import NoticeRequested
from contracts.registry import InvalidEvent, parse_event
from contracts.topics import DLQ_HEADER_REASON, DLQ_HEADER_TOPIC, Topics
from services.masking import redact

REPLAYED_FROM = "duban-replayed-from"
READ_TIMEOUT_S = 60.0


class DeadLetterError(Exception):
    """A dead-letter command cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes
    headers: dict[str, str]

    @property
    def position(self) -> str:
        """PARTITION:OFFSET, as `duban dlq replay --offset` takes it."""
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        """Why it was dead-lettered (masked)."""
        return redact(self.headers.get(DLQ_HEADER_REASON, "(no reason header)"), limit=1000)

    @property
    def time(self) -> str:
        """When it was dead-lettered, in this machine's time zone."""
        moment = datetime.fromtimestamp(self.timestamp_ms / 1000).astimezone()
        return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Replay:
    """Where and how one dead letter is published again."""

    letter: DeadLetter
    topic: str
    key: bytes


def summary(letter: DeadLetter) -> str:
    """A short, masked description of the original message."""
    try:
        event = parse_event(letter.value)
    except InvalidEvent:
        return _raw_summary(letter)
    data = event.data
    if isinstance(data, NoticeRequested):
        kind = f"{data.kind}.{data.action}" if data.action else data.kind
        via = ",".join(plan.channel for plan in data.channels)
        text = (
            f"notice {data.notice_id}#{data.occurrence} {kind} to {data.recipient.person_id} "
            f"({data.recipient.role}) via {via}"
        )
    else:
        text = f"{event.type} subject={event.subject} id={event.id} source={event.source}"
    return redact(text, limit=300)


def _raw_summary(letter: DeadLetter) -> str:
    origin = letter.headers.get(DLQ_HEADER_TOPIC)
    where = f" from {origin}" if origin else ""
    try:
        body = json.loads(letter.value)
    except ValueError:
        text = letter.value[:80].decode("utf-8", errors="replace")
        return redact(f"not JSON ({len(letter.value)} bytes){where}: {text}", limit=300)
    if isinstance(body, dict):
        fields = " ".join(f"{k}={body[k]}" for k in ("type", "subject", "id") if k in body)
        return redact(f"invalid event{where}: {fields or 'no type/subject/id'}", limit=300)
    return redact(f"JSON {type(body).__name__}{where}, not an event", limit=300)


def parse_position(text: str) -> tuple[int | None, int]:
    """'3:17' → (3, 17); '17' → (None, 17)."""
    partition, _, offset = text.rpartition(":")
    try:
        return (int(partition) if partition else None, int(offset))
    except ValueError as e:
        raise DeadLetterError(f"--offset takes OFFSET or PARTITION:OFFSET, not {text!r}") from e


def select(letters: Sequence[DeadLetter], position: str | None) -> list[DeadLetter]:
    """The letter at `position` (all of them when None); DeadLetterError if none or ambiguous."""
    if position is None:
        return list(letters)
    partition, offset = parse_position(position)
    found = [x for x in letters if x.offset == offset and partition in (None, x.partition)]
    if not found:
        raise DeadLetterError(f"no dead letter at {position} (see `duban dlq list`)")
    if len(found) > 1:
        where = ", ".join(x.position for x in found)
        raise DeadLetterError(f"offset {offset} is in several partitions ({where}): give one")
    return found


def plan_replay(letter: DeadLetter, kind: str, topics: Topics) -> Replay:
    """Where a dead letter goes back to; DeadLetterError when replaying cannot help."""
    try:
        event = parse_event(letter.value)
    except InvalidEvent as e:
        raise DeadLetterError(
            f"still invalid ({redact(e.reason, limit=200)}): the publisher must send a "
            "corrected event; replaying the same bytes would only dead-letter them again"
        ) from e
    if kind == "notices":
        if not isinstance(event.data, NoticeRequested):
            raise DeadLetterError(f"a {event.type} event, not notice.requested")
        return Replay(letter, topics.notice_requested, event.key)
    origin = letter.headers.get(DLQ_HEADER_TOPIC)
    if not origin:
        raise DeadLetterError(f"no {DLQ_HEADER_TOPIC} header: cannot tell where it came from")
    return Replay(letter, origin, event.key)


async def read_dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every record of `topic` from the beginning, oldest first (no group, no commit)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    parts = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
    await consumer.start()
    try:
        letters = await asyncio.wait_for(_read_to_end(consumer, parts), READ_TIMEOUT_S)
    except TimeoutError as e:
        raise DeadLetterError(f"reading {topic} took longer than {READ_TIMEOUT_S:g} s") from e
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda x: (x.timestamp_ms, x.partition, x.offset))


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """The topic's partitions; none when it does not exist (nothing was dead-lettered yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [found] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in found.get("partitions", ()))


async def _read_to_end(consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> list[DeadLetter]:
    if not parts:
        return []
    consumer.assign(parts)
    ends = await consumer.end_offsets(parts)
    await consumer.seek_to_beginning(*parts)
    letters: list[DeadLetter] = []
    pending = [tp for tp in parts if await consumer.position(tp) < ends[tp]]
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=500)
        for records in batch.values():
            letters += [_letter(r) for r in records]
        pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
    return letters


def _letter(r: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {k: v.decode("utf-8", errors="replace") for k, v in (r.headers or ())}
    return DeadLetter(r.topic, r.partition, r.offset, r.timestamp, r.value or b"", headers)


async def publish_replays(bootstrap: str, replays: Sequence[Replay]) -> None:
    """Publish each replay with its origin in a header, waiting for the broker's ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for replay in replays:
            origin = f"{replay.letter.topic}:{replay.letter.position}"
            await producer.send_and_wait(
                replay.topic,
                replay.letter.value,
                key=replay.key,
                headers=[(REPLAYED_FROM, origin.encode())],
            )
    finally:
        await producer.stop()
