"""The timer loop: claim due timers in batches and let the engine re-decide those hazards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from services.clock import Clock
from services.engine.work import Engine
from services.metrics import METRICS
from services.settings import Settings
from services.store.timers import TimerStore

log = logging.getLogger("duban.timers")
ERROR_BACKOFF_S = 2.0
CATCH_UP_POLL_S = 0.5


class TimerLoop:
    """Fires due timers until stopped; a failure is logged and retried, never fatal."""

    def __init__(self, engine: Engine, timers: TimerStore, clock: Clock, settings: Settings):
        self.engine = engine
        self.timers = timers
        self.clock = clock
        self.settings = settings
        self._stop = asyncio.Event()
        self.fired = 0

    def stop(self) -> None:
        """Ask the loop to finish after the current batch."""
        self._stop.set()

    async def run(self, caught_up: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Claim and fire until stopped; first let the consumer catch up on the backlog."""
        if caught_up is not None:
            await self._catch_up(caught_up)
        while not self._stop.is_set():
            try:
                fired = await self.fire_once()
            except Exception:
                # Redis or Kafka unavailable: leased timers come back when the lease ends.
                log.exception("firing timers failed; retrying in %.0f s", ERROR_BACKOFF_S)
                await self._pause(ERROR_BACKOFF_S)
                continue
            if not fired:
                await self._pause(self.settings.timer_idle_poll_s)

    async def fire_once(self) -> int:
        """Claim one batch of due timers and fire it; returns how many fired."""
        claimed = await self.timers.claim_due(
            self.clock.now(), self.settings.timer_batch, self.settings.timer_lease_s
        )
        hazards = {
            c.member.partition(":")[2]: [] for c in claimed if c.member.startswith("hazard:")
        }
        others = [c.member for c in claimed if not c.member.startswith("hazard:")]
        if hazards:
            await self.engine.advance_hazards(dict(hazards))
        if others:
            await self.engine.duties.fire(others)
        self.fired += len(claimed)
        METRICS.inc("duban_timers_fired_total", len(claimed), help="Timers claimed and fired.")
        return len(claimed)

    async def _catch_up(self, caught_up: Callable[[], Awaitable[bool]]) -> None:
        """Wait (bounded) until inbound events that arrived while down are applied, so a
        deadline extension sitting in Kafka re-plans its timer before the old one fires."""
        deadline = asyncio.get_running_loop().time() + self.settings.catch_up_timeout_s
        while not self._stop.is_set() and asyncio.get_running_loop().time() < deadline:
            try:
                if await caught_up():
                    log.info("consumer caught up; timers start")
                    return
            except Exception:
                log.exception("could not read the consumer lag; checking again")
            await self._pause(CATCH_UP_POLL_S)
        if not self._stop.is_set():
            log.warning(
                "timers start before the consumer caught up (%.0f s passed)",
                self.settings.catch_up_timeout_s,
            )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
