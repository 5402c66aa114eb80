"""Group commit: many concurrent callers, one round trip per batch.

Hundreds of deliveries in flight each want a small Redis write. Sent one by one, every
write pays a client-side command and a round trip; :class:`GroupCommit` queues them
and runs whatever queued while the previous batch was in flight as the next batch, so
an idle system answers at once and a busy one sends few, large batches.

Each caller gets its own item's result or the batch's exception. A caller that is
cancelled does not cancel its item: the batch it joined still runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Runs ``run(items)`` (which returns one result per item, in order) for batches of
    submitted items, one batch at a time, at most ``max_batch`` items each."""

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """``item``'s result once its batch ran."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                results = await self._run([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
            except asyncio.CancelledError:  # shutting down: nobody waits forever
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue = []
                raise
            except Exception as e:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
