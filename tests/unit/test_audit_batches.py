"""Keeping a batch in chunks: the next chunk is decoded while the last one is written, yet
writes stay in order, one at a time, and the batch ends (and its offsets may be committed)
only after every row is written."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.audit.batches import bounds, pipelined

TIMEOUT_S = 5  # a deadlock fails the test instead of hanging it


class Trail:
    """A fake writer that logs when each chunk's write starts and ends."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.held: dict[int, asyncio.Event] = {}  # chunk's first record → released when set
        self.started: dict[int, asyncio.Event] = {}
        self.fail_at: int | None = None

    def decode(self, records: Sequence[int]) -> list[int]:
        self.log.extend(f"decode {r}" for r in records)
        return list(records)

    async def write(self, entries: list[int]) -> int:
        first = entries[0]
        self.log.append(f"start {first}")
        self.started.setdefault(first, asyncio.Event()).set()
        if first in self.held:
            await self.held[first].wait()
        if first == self.fail_at:
            self.log.append(f"failed {first}")
            raise ConnectionError("PostgreSQL: gone")
        self.log.append(f"end {first}")
        return len(entries)

    def hold(self, first: int) -> asyncio.Event:
        self.held[first] = asyncio.Event()
        return self.held[first]

    def before(self, a: str, b: str) -> bool:
        return self.log.index(a) < self.log.index(b)


async def test_chunks_are_written_in_order_one_at_a_time() -> None:
    trail = Trail()
    run = pipelined(list(range(10)), trail.decode, trail.write, chunk=4, edge=2, step=2)
    assert await run == 10
    writes = [line for line in trail.log if not line.startswith("decode")]
    assert writes == [f"{what} {first}" for first in (0, 2, 5, 8) for what in ("start", "end")]


def test_a_batch_is_cut_in_even_chunks_between_a_short_first_and_last_one() -> None:
    cut = bounds(5000, 1000, 250)
    assert cut[0] == (0, 250) and cut[-1] == (4750, 5000)
    assert [b - a for a, b in cut[1:-1]] == [900] * 5
    assert bounds(1001, 1000, 250) == [(0, 250), (250, 751), (751, 1001)]
    assert bounds(1000, 1000, 250) == [(0, 1000)]  # too small for short ends
    assert bounds(1500, 1000, 0) == [(0, 750), (750, 1500)]
    assert bounds(0, 1000, 250) == []


async def test_the_next_chunk_is_decoded_while_the_last_is_written() -> None:
    trail = Trail()
    release = trail.hold(0)  # chunk 0's write waits until record 7 (chunk 1) is decoded

    def decode(records: Sequence[int]) -> list[int]:
        if 7 in records:
            release.set()
        return trail.decode(records)

    run = pipelined(list(range(8)), decode, trail.write, chunk=4, step=2)
    assert await asyncio.wait_for(run, TIMEOUT_S) == 8  # no overlap: a deadlock
    assert trail.before("start 0", "decode 7") and trail.before("decode 7", "end 0")


async def test_the_batch_ends_only_after_its_last_rows_are_written() -> None:
    trail = Trail()
    release = trail.hold(4)
    run = asyncio.create_task(pipelined(list(range(8)), trail.decode, trail.write, chunk=4))
    await asyncio.wait_for(trail.started.setdefault(4, asyncio.Event()).wait(), TIMEOUT_S)
    assert not run.done()  # the consumer cannot commit offsets yet
    release.set()
    assert await asyncio.wait_for(run, TIMEOUT_S) == 8
    assert trail.log[-1] == "end 4"


async def test_a_failed_write_fails_the_batch_and_nothing_after_it_is_written() -> None:
    trail = Trail()
    trail.fail_at = 4
    with pytest.raises(ConnectionError):
        await pipelined(list(range(12)), trail.decode, trail.write, chunk=4, step=2)
    assert "end 0" in trail.log and "failed 4" in trail.log
    assert "start 8" not in trail.log


async def test_a_decoding_failure_waits_for_the_write_under_way_then_raises() -> None:
    trail = Trail()
    release = trail.hold(0)

    def decode(records: Sequence[int]) -> list[int]:
        if 6 in records:
            release.set()  # chunk 0 is still being written: it may end now
            raise ValueError("not an event")
        return trail.decode(records)

    with pytest.raises(ValueError, match="not an event"):
        async with asyncio.timeout(TIMEOUT_S):  # in this task: the log is read as it raised
            await pipelined(list(range(8)), decode, trail.write, chunk=4, step=2)
    assert trail.log[-1] == "end 0"  # ended before the failure surfaced; nothing left running
    assert "start 4" not in trail.log


async def test_a_decoding_failure_after_a_failed_write_raises_the_decoding_failure() -> None:
    trail = Trail()
    trail.fail_at = 0
    release = trail.hold(0)

    def decode(records: Sequence[int]) -> list[int]:
        if 4 in records:
            release.set()
            raise ValueError("not an event")
        return trail.decode(records)

    with pytest.raises(ValueError, match="not an event"):
        await asyncio.wait_for(pipelined(list(range(8)), decode, trail.write, chunk=4), TIMEOUT_S)
    assert trail.log[-1] == "failed 0"


async def test_an_empty_batch_writes_nothing() -> None:
    trail = Trail()
    assert await pipelined([], trail.decode, trail.write) == 0
    assert trail.log == []
