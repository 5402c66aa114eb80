"""Group commit: concurrent submissions share batches, each caller gets its own result."""

from __future__ import annotations

import asyncio

import pytest

from services.groupcommit import GroupCommit


class Recorder:
    """A batch function that doubles numbers and remembers each batch it ran."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.gate: asyncio.Event | None = None

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [i * 2 for i in items]


async def test_concurrent_submissions_share_one_batch() -> None:
    rec = Recorder()
    group = GroupCommit(rec.run, max_batch=100)
    results = await asyncio.gather(*(group.submit(i) for i in range(10)))
    assert results == [i * 2 for i in range(10)]
    assert rec.batches == [list(range(10))]


async def test_submissions_during_a_batch_go_together_in_the_next() -> None:
    rec = Recorder()
    rec.gate = asyncio.Event()
    group = GroupCommit(rec.run, max_batch=100)
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0)  # the first batch is in flight, held at the gate
    await asyncio.sleep(0)
    later = [asyncio.create_task(group.submit(i)) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    rec.gate.set()
    assert await first == 0 and [await t for t in later] == [2, 4, 6]
    assert rec.batches == [[0], [1, 2, 3]]


async def test_batches_are_capped_at_max_batch() -> None:
    rec = Recorder()
    group = GroupCommit(rec.run, max_batch=4)
    await asyncio.gather(*(group.submit(i) for i in range(10)))
    assert [len(b) for b in rec.batches] == [4, 4, 2]


async def test_a_failed_batch_fails_its_callers_only() -> None:
    rec = Recorder(fail_on=3)
    group = GroupCommit(rec.run, max_batch=5)
    results = await asyncio.gather(*(group.submit(i) for i in range(10)), return_exceptions=True)
    assert [type(r).__name__ for r in results[:5]] == ["ValueError"] * 5
    assert results[5:] == [10, 12, 14, 16, 18]


async def test_a_cancelled_caller_does_not_cancel_its_item() -> None:
    rec = Recorder()
    rec.gate = asyncio.Event()
    group = GroupCommit(rec.run, max_batch=10)
    blocker = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(group.submit(1))
    stayer = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0)
    quitter.cancel()
    rec.gate.set()
    assert await blocker == 0 and await stayer == 4
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert rec.batches == [[0], [1, 2]]  # item 1 still ran


async def test_a_wrong_number_of_results_is_an_error() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    group = GroupCommit(short, max_batch=10)
    with pytest.raises(RuntimeError, match="batch of 2 gave 1 results"):
        await asyncio.gather(group.submit(1), group.submit(2))


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GroupCommit(Recorder().run, max_batch=0)


async def test_a_lingering_batch_waits_for_company() -> None:
    rec = Recorder()
    group = GroupCommit(rec.run, max_batch=100, linger_s=0.5)
    first = asyncio.create_task(group.submit(1))
    for _ in range(5):  # the flusher starts and lingers; no time passes meanwhile
        await asyncio.sleep(0)
    assert rec.batches == []
    second = asyncio.create_task(group.submit(2))
    assert (await first, await second) == (2, 4)
    assert rec.batches == [[1, 2]]


async def test_a_full_batch_does_not_linger() -> None:
    rec = Recorder()
    group = GroupCommit(rec.run, max_batch=3, linger_s=60)
    results = await asyncio.wait_for(asyncio.gather(*(group.submit(i) for i in range(3))), 5)
    assert results == [0, 2, 4] and rec.batches == [[0, 1, 2]]


def test_linger_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        GroupCommit(Recorder().run, max_batch=1, linger_s=-1)
