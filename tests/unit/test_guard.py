"""The record guard: one record never halts a consumer; an outage still redelivers."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from redis.exceptions import ConnectionError as RedisConnectionError

from services.guard import Record, RecordGuard

log = logging.getLogger("test.guard")


def records(n: int) -> list[Record]:
    return [Record(f"r{i}".encode(), "t", 0, i, key=f"k{i}".encode()) for i in range(n)]


class Consumer:
    """A batch handler that fails on chosen records, and records what it handled."""

    def __init__(self, fail: dict[int, BaseException] | None = None) -> None:
        self.fail = fail or {}
        self.handled: list[int] = []

    async def handle(self, batch: Sequence[Record]) -> None:
        for record in batch:
            if record.offset in self.fail:
                raise self.fail[record.offset]
        self.handled += [r.offset for r in batch]


def guard(healthy: bool = True, attempts: int = 3) -> tuple[RecordGuard, list[tuple[int, str]]]:
    dead: list[tuple[int, str]] = []
    pauses: list[float] = []

    async def dead_letter(record: Record, reason: str) -> None:
        dead.append((record.offset, reason))

    async def is_healthy() -> bool:
        return healthy

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    return RecordGuard("engine", dead_letter, is_healthy, log, attempts, 2.0, sleep), dead


async def test_a_good_batch_is_handled_once() -> None:
    g, dead = guard()
    consumer = Consumer()
    await g.run(records(3), consumer.handle)
    assert consumer.handled == [0, 1, 2] and dead == []


@pytest.mark.parametrize(
    "error",
    [
        RecursionError("maximum recursion depth exceeded"),
        OverflowError("date value out of range"),
        KeyError("unit"),
        ValueError("x"),
        RuntimeError("bug"),
    ],
)
async def test_any_record_error_dead_letters_that_record_and_the_rest_go_on(
    error: BaseException,
) -> None:
    g, dead = guard()
    consumer = Consumer({1: error})
    await g.run(records(3), consumer.handle)
    assert [offset for offset, _ in dead] == [1]
    assert type(error).__name__ in dead[0][1]
    assert consumer.handled == [0, 2]


async def test_an_infra_error_while_everything_answers_dead_letters_after_n_tries() -> None:
    g, dead = guard(attempts=3)
    consumer = Consumer({2: MessageSizeTooLargeError()})
    await g.run(records(4), consumer.handle)
    assert [offset for offset, _ in dead] == [2]
    assert "failed 3 times" in dead[0][1] and "MessageSizeTooLargeError" in dead[0][1]
    assert consumer.handled == [0, 1, 3]


@pytest.mark.parametrize("error", [RedisConnectionError("down"), KafkaConnectionError()])
async def test_an_outage_redelivers_the_batch_and_dead_letters_nothing(error: Exception) -> None:
    g, dead = guard(healthy=False)
    consumer = Consumer({0: error})
    with pytest.raises(type(error)):
        await g.run(records(3), consumer.handle)
    assert dead == [] and consumer.handled == []


async def test_a_dead_letter_that_cannot_be_published_redelivers() -> None:
    async def dead_letter(record: Record, reason: str) -> None:
        raise KafkaConnectionError()

    async def healthy() -> bool:
        return True

    async def sleep(_: float) -> None:
        return None

    g = RecordGuard("notifier", dead_letter, healthy, log, 3, 2.0, sleep)
    with pytest.raises(KafkaConnectionError):
        await g.run(records(2), Consumer({0: ValueError("bad")}).handle)


async def test_the_reason_is_masked() -> None:
    g, dead = guard()
    error = ValueError("bad value for 13800138000 / zhang.san@example.com")
    await g.run(records(1), Consumer({0: error}).handle)
    assert "13800138000" not in dead[0][1] and "zhang.san@" not in dead[0][1]
    assert "138****8000" in dead[0][1]
