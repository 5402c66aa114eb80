"""The chaos run's seeded publisher: units, then hazards, with the mess real publishers make.

A plan is drawn from the seed first (which hazard, when, which copies); events get their
times when they are published, on the wall clock, since the engine runs on it. What was
published (each event once, in publishing order) is what the oracle replays.

The mess: duplicate copies at once (same event id), late copies (the same event again
tens of seconds later), progress events out of order (the later one first), and poison
records (not JSON, bad dates, unknown types) that must be dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.topics import Topics
from tests.helpers import event, hazard_event, reported

INDUSTRY = "hazardous_chemicals"  # its department's duty officer has an email address
POISON = (
    b"\x00\xff not json at all",
    b'{"specversion": "1.0", "id": "p-trunc", "type": "hazard.reported"',
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
)


@dataclass(frozen=True)
class Timing:
    """Seconds: how long hazards are published, and their deadlines after the report."""

    window_s: float
    deadline_s: tuple[float, float]
    hazards: int
    units: int


@dataclass(frozen=True)
class Step:
    """One record to publish `at_s` seconds after the hazards start."""

    at_s: float
    kind: str  # reported, closed, progress, copy, late, poison
    hazard: int


@dataclass
class Published:
    """What went out: each event once (the oracle's input) and counts per kind."""

    events: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    poison: int = 0

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


def plan(seed: int, timing: Timing) -> list[Step]:
    """The seeded schedule of records, in time order."""
    rng = random.Random(seed)
    steps: list[Step] = []
    for h in range(timing.hazards):
        t0 = rng.uniform(0, timing.window_s)
        steps.append(Step(t0, "reported", h))
        if rng.random() < 0.15:
            steps.append(Step(t0 + rng.uniform(0.1, 2), "copy", h))
        if rng.random() < 0.10:
            steps.append(Step(t0 + rng.uniform(20, 40), "late", h))
        if rng.random() < 0.30:
            steps.append(Step(t0 + rng.uniform(3, 8), "closed", h))
        elif rng.random() < 0.5:
            steps.append(Step(t0 + rng.uniform(2, 10), "progress", h))
    # Poison records: one of each kind at least, then one in twenty hazards.
    for p in range(max(len(POISON), timing.hazards // 20)):
        steps.append(Step(rng.uniform(0, timing.window_s), "poison", p))
    return sorted(steps, key=lambda s: s.at_s)


def contact(u: int) -> dict[str, str]:
    """Unit u's principal's address, by u modulo 6: an email address, none (the webhook
    takes it), a Feishu open_id, a mobile (Aliyun SMS), a Feishu open_id, an email address
    (with seed 7's quick run every one of them gets hazards)."""
    email = {"email": f"p{u}@unit.example"}
    feishu = {"feishu_open_id": f"ou_chaos_p{u}"}
    return [email, {}, feishu, {"mobile": f"1390000{u:04d}"}, feishu, email][u % 6]


class Publisher:
    """Publishes a plan on the wall clock; retries through broker outages."""

    def __init__(self, bootstrap: str, topics: Topics, seed: int, timing: Timing) -> None:
        self.bootstrap, self.topics, self.timing = bootstrap, topics, timing
        self.rng = random.Random(seed + 1)
        self.steps = plan(seed, timing)
        self.out = Published()
        self._reported: dict[int, dict[str, Any]] = {}
        self._producer: AIOKafkaProducer | None = None

    async def units(self) -> None:
        """Every unit's principal, reached first on the channel `contact` gives them."""
        now = datetime.now(UTC)
        for u in range(self.timing.units):
            principal: dict[str, Any] = {"id": f"P{u}", "name": f"负责人{u}", **contact(u)}
            data = {
                "unit_id": f"U{u}",
                "name": f"化工{u}",
                "industry": INDUSTRY,
                "region": "baitu",
                "contacts": {"principal": principal},
            }
            await self._send(event("unit.upserted", f"U{u}", now, data, id=f"unit-{u}"))

    async def hazards(self) -> None:
        """Every step at its time after now."""
        started = time.monotonic()
        for step in self.steps:
            wait = step.at_s - (time.monotonic() - started)
            if wait > 0:
                await asyncio.sleep(wait)
            await self._step(step)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def _step(self, step: Step) -> None:
        self.out.count(step.kind)
        now = datetime.now(UTC)
        h = step.hazard
        if step.kind == "poison":
            self.out.poison += 1
            await self._raw(POISON[h % len(POISON)], key=f"H{h}".encode())
        elif step.kind == "reported":
            low, high = self.timing.deadline_s
            deadline = now + timedelta(seconds=self.rng.uniform(low, high))
            u = self.rng.randrange(self.timing.units)
            record = reported(
                f"H{h}",
                now,
                deadline,
                level="general",
                industry=INDUSTRY,
                unit_id=f"U{u}",
                responsible=(f"P{u}",),
            )
            record["id"] = f"rep-{h}"
            self._reported[h] = record
            await self._send(record)
        elif step.kind in ("copy", "late"):
            await self._send(self._reported[h], again=True)
        elif step.kind == "closed":
            await self._send(hazard_event("hazard.closed", f"H{h}", now, closed_at=now))
        else:  # two progress reports, the later one published first
            later = hazard_event("hazard.progress", f"H{h}", now, percent=60)
            earlier = hazard_event(
                "hazard.progress", f"H{h}", now - timedelta(seconds=5), percent=30
            )
            await self._send(later)
            await self._send(earlier)

    async def _send(self, record: dict[str, Any], again: bool = False) -> None:
        if not again:
            self.out.events.append(record)
        topic = self.topics.for_type(str(record["type"]))
        value = json.dumps(record, ensure_ascii=False).encode()
        await self._raw(value, key=str(record["subject"]).encode(), topic=topic)

    async def _raw(self, value: bytes, key: bytes, topic: str | None = None) -> None:
        """Until the broker confirms it (a retry after a lost answer may write a copy:
        the event id makes it harmless)."""
        while True:
            try:
                producer = await self._ready()
                await asyncio.wait_for(
                    producer.send_and_wait(topic or self.topics.hazard_events, value, key=key),
                    30,
                )
                return
            except (KafkaError, TimeoutError, OSError):
                await self._reset()
                await asyncio.sleep(1)

    async def _ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=10_000
            )
            await producer.start()
            self._producer = producer
        return self._producer

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError, TimeoutError, OSError):
                await asyncio.wait_for(producer.stop(), 10)
