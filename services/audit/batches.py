"""Keeping a consumed batch in chunks, decoding the next chunk while the last one is written.

Decoding (parse, validate, build entries) is the service's CPU; writing is mostly
PostgreSQL's. Done one after the other, each waits for the other; here chunk n+1 is
decoded while chunk n's transaction runs on the server. The order and the guarantees
stay those of writing the batch at once:

- a chunk's write starts only after the previous chunk's write ended, so rows are
  appended in the order consumed, one transaction at a time on the one connection;
- `pipelined` returns only after every write ended, and raises if any failed: the
  consumer commits its offsets after that, never ahead of the rows;
- a failure while decoding lets the write under way end first (it is never left
  running behind the record guard's retry), then raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

R = TypeVar("R")
E = TypeVar("E")

CHUNK = 1000  # records per transaction
EDGE = 250  # records in a batch's first and last chunks (see `bounds`)
STEP = 5  # records decoded between two turns of the event loop (~0.2 ms; see `_decoded`)


async def pipelined(
    records: Sequence[R],
    decode: Callable[[Sequence[R]], list[E]],
    write: Callable[[list[E]], Coroutine[Any, Any, int]],
    chunk: int = CHUNK,
    edge: int = EDGE,
    step: int = STEP,
) -> int:
    """Decode and write `records` chunk by chunk; the sum of what the writes return."""
    total = 0
    pending: asyncio.Task[int] | None = None
    try:
        for start, end in bounds(len(records), chunk, edge):
            entries = await _decoded(records[start:end], decode, step)
            if pending is not None:
                total += await pending
            pending = asyncio.create_task(write(entries))
        if pending is not None:
            total += await pending
    finally:
        if pending is not None:  # ended (then this re-reads it) or still running
            with contextlib.suppress(Exception):  # the first failure is the one raised
                await asyncio.shield(pending)
    return total


def bounds(count: int, chunk: int, edge: int) -> list[tuple[int, int]]:
    """[start, end) of each chunk: a first and a last chunk of `edge` records (the first
    is decoded while nothing is written, the last written while nothing is decoded: both
    short), even chunks of at most `chunk` records between them. A batch too small for
    that is cut in even chunks only."""
    if edge <= 0 or count <= 4 * edge:
        return _even(0, count, chunk)
    return [(0, edge), *_even(edge, count - edge, chunk), (count - edge, count)]


def _even(start: int, end: int, chunk: int) -> list[tuple[int, int]]:
    pieces = -(-(end - start) // chunk)
    edges = [start + (end - start) * n // pieces for n in range(pieces + 1)] if pieces else []
    return list(itertools.pairwise(edges))


async def _decoded(
    records: Sequence[R], decode: Callable[[Sequence[R]], list[E]], step: int
) -> list[E]:
    # The write under way moves on only at these turns: each of its round trips (BEGIN,
    # the reads, the small writes, COPY's start and end, COMMIT) waits for the next one
    # once PostgreSQL answered. Short slices keep it close behind; a turn costs ~4 µs.
    entries: list[E] = []
    for at in range(0, len(records), step):
        entries.extend(decode(records[at : at + step]))
        await asyncio.sleep(0)  # a turn of the loop: the write under way (and Kafka) move on
    return entries
