"""A notice the notifier fails on is dead-lettered; Redis or Kafka trouble is retried."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.guard import Record
from services.notifier.app import _each
from services.notifier.intake import Intake

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "examples" / "notice.requested.json"


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.dead: list[tuple[str, str]] = []
        self.outcomes = SimpleNamespace(dead_letter=self._dead_letter)

    async def deliver(self, notice) -> None:
        raise self.error

    async def _dead_letter(self, notice, reason: str) -> None:
        self.dead.append((notice.notice_id, reason))


def intake_with(deliverer: Failing) -> Intake:
    async def no_dead_letter(record: Record, reason: str) -> None:
        raise AssertionError(f"a readable notice was dead-lettered raw: {reason}")

    return Intake(deliverer, no_dead_letter)  # type: ignore[arg-type]


async def test_a_bug_on_one_notice_dead_letters_it() -> None:
    deliverer = Failing(KeyError("recipient_name"))
    record = Record(EXAMPLE.read_bytes(), "notice.requested", 0, 7)
    await intake_with(deliverer).record(record)
    assert len(deliverer.dead) == 1
    assert deliverer.dead[0][1] == "notifier error: KeyError: 'recipient_name'"


async def test_redis_trouble_is_raised_for_redelivery_not_dead_lettered() -> None:
    deliverer = Failing(RedisConnectionError("down"))
    record = Record(EXAMPLE.read_bytes(), "notice.requested", 0, 7)
    with pytest.raises(RedisConnectionError):
        await intake_with(deliverer).record(record)
    assert deliverer.dead == []


async def test_each_bounds_concurrency_and_raises_after_every_item_settled() -> None:
    running, peak, done = 0, 0, []

    async def handle(item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        if item == 3:
            raise ValueError("item 3")
        done.append(item)

    with pytest.raises(ValueError, match="item 3"):
        await _each(list(range(20)), handle, workers=4)
    assert peak == 4 and sorted(done) == [i for i in range(20) if i != 3]
