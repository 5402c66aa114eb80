"""Group commit: many concurrent callers, one round trip per batch.

Hundreds of deliveries in flight each want a small Redis write. Sent one by one, every
write pays a client-side command and a round trip; :class:`GroupCommit` queues them
and runs whatever queued while the previous batch was in flight as the next batch, so
an idle system answers at once and a busy one sends few, large batches. The delivery
ledger (services.notifier.ledger) groups its Redis scripts so; Kafka records need no such
thing here, aiokafka's producer batches them.

With ``linger_s``, a batch smaller than ``max_batch`` waits that long for company
before it runs (Kafka's ``linger.ms``): for writes whose callers are spread out in time,
a couple of milliseconds turn many small round trips into a few large ones.

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

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R]]],
        max_batch: int,
        *,
        linger_s: float = 0.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger_s < 0:
            raise ValueError("linger_s must not be negative")
        self._run = run
        self._max_batch = max_batch
        self._linger_s = linger_s
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
            if self._linger_s and len(self._queue) < self._max_batch:
                await asyncio.sleep(self._linger_s)
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            await self._settle(batch)

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Run one batch and hand each caller its result (or the batch's error)."""
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
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
