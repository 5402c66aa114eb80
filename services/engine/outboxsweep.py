"""The outbox sweep: publishes the notices an engine committed and died before publishing
(services.engine.outbox). Every replica sweeps; an event is taken only once it has been
in the outbox for ``min_age_s`` (its own engine had that long to publish it), and a
sweep that takes it leaves it to the others for as long again. A repeat is harmless: the
same event id and notice id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.errors import INFRASTRUCTURE_ERRORS
from services.guard import failure_reason
from services.store.ports import EntityStore, Sink

log = logging.getLogger("duban.engine")
OUTBOX_MIN_AGE_S = 30.0
OUTBOX_POLL_S = 5.0
OUTBOX_BATCH = 500


class OutboxSweep:
    """Publish what was left in the outbox, every ``poll_s``, until stopped."""

    def __init__(
        self,
        store: EntityStore,
        sink: Sink,
        min_age_s: float = OUTBOX_MIN_AGE_S,
        poll_s: float = OUTBOX_POLL_S,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.sink = sink
        self.min_age_s = min_age_s
        self.poll_s = poll_s
        self.sleep = sleep
        self._stopped = asyncio.Event()

    async def once(self) -> int:
        """Publish one batch of what was left; how many events."""
        left = await self.store.outbox_due(self.min_age_s, OUTBOX_BATCH)
        if left:
            log.warning("outbox: publishing %d notice(s) an engine left unpublished", len(left))
            await self.sink.boxed(left)
            await self.store.outbox_done([e.event_id for e in left])
        return len(left)

    async def run(self) -> None:
        """Sweep until stopped; an outage of Kafka or Redis only pauses it."""
        while not self._stopped.is_set():
            try:
                taken = await self.once()
            except INFRASTRUCTURE_ERRORS as e:
                log.warning("outbox sweep paused: %s", failure_reason(e))
                taken = 0
            if taken < OUTBOX_BATCH:
                await self._pause()

    def stop(self) -> None:
        self._stopped.set()

    async def _pause(self) -> None:
        try:
            await asyncio.wait_for(self._stopped.wait(), self.poll_s)
        except TimeoutError:
            return
