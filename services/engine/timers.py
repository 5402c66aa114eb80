"""The timer loop: claim due timers in batches and let the engine re-decide those hazards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.clock import Clock
from services.engine.watermark import Hold, Watermark
from services.engine.work import Engine
from services.errors import FailureStreak
from services.metrics import EngineMetrics
from services.settings import Settings
from services.store.timers import Claimed, TimerStore

log = logging.getLogger("duban.timers")
ERROR_BACKOFF_S = 2.0
CATCH_UP_POLL_S = 0.5
WAIT_LOG_AFTER_S = 5.0  # timers waiting this long for inbound events are logged...
WAIT_LOG_S = 10.0  # ...once per this many seconds


class TimerLoop:
    """Fires due timers until stopped; a failure is logged and retried, never fatal."""

    def __init__(
        self,
        engine: Engine,
        timers: TimerStore,
        clock: Clock,
        settings: Settings,
        metrics: EngineMetrics | None = None,
        watermark: Watermark | None = None,
    ):
        self.engine = engine
        self.timers = timers
        self.clock = clock
        self.settings = settings
        self.metrics = metrics if metrics is not None else EngineMetrics()
        self.watermark = watermark  # None: timers fire up to the clock, waiting for nothing
        self._stop = asyncio.Event()
        self._waiting_logged_s = -WAIT_LOG_S
        self._failures = FailureStreak(log, "firing timers")
        self.fired = 0

    def stop(self) -> None:
        """Ask the loop to finish after the current batch."""
        self._stop.set()

    async def run(self, caught_up: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Claim and fire until stopped; first let the consumer catch up on the backlog."""
        if caught_up is not None:
            await self._catch_up(caught_up)
        try:
            while not self._stop.is_set():
                await self._round()
        finally:
            if self.watermark is not None:
                await self.watermark.aclose()

    async def _round(self) -> None:
        try:
            fired = await self.fire_once()
            self.metrics.timers_pending.set(await self.timers.pending())
        except Exception as e:
            # Redis or Kafka unavailable: leased timers come back when the lease ends.
            self._failures.failed(e, ERROR_BACKOFF_S)
            await self._pause(ERROR_BACKOFF_S)
            return
        self._failures.succeeded()
        if not fired:
            await self._pause(self.settings.timer_idle_poll_s)

    async def fire_once(self) -> int:
        """Claim one batch of due timers and fire it; returns how many fired. A timer
        waits for the inbound events of its subject that came before it (the gate)."""
        now = self.clock.now()
        hold = Hold(now)
        if self.watermark is not None:
            hold = await self.watermark.hold()
            self._report_waiting()
        # leased from now, not from `upto`: claim_due leases from the moment it gets
        held_s = (now - hold.upto).total_seconds()
        claimed = await self.timers.claim_due(
            hold.upto,
            self.settings.timer_batch,
            self.settings.timer_lease_s + held_s,
            hold.members,
        )
        await self.engine.fire([c.member for c in claimed], {c.member: c.due_at for c in claimed})
        self.fired += len(claimed)
        self._observe(now, claimed)
        return len(claimed)

    def _report_waiting(self) -> None:
        """The watermark's lag on the metrics; a line in the log every WAIT_LOG_S while
        timers wait more than WAIT_LOG_AFTER_S, naming the partitions behind."""
        assert self.watermark is not None
        lag = self.watermark.lag_s()
        self.metrics.timer_watermark_lag_seconds.set(lag)
        real = time.monotonic()
        if lag < WAIT_LOG_AFTER_S or real - self._waiting_logged_s < WAIT_LOG_S:
            return
        self._waiting_logged_s = real
        behind = ", ".join(
            f"{getattr(tp, 'topic', tp)}[{getattr(tp, 'partition', '?')}] {done}/{end}"
            for tp, (done, end) in sorted(self.watermark.behind().items(), key=str)
        )
        subjects = self.watermark.waiting_subjects()
        log.info(
            "timers of %d subject(s) wait up to %.0f s for their inbound events not yet "
            "applied: %s",
            subjects,
            lag,
            behind,
        )

    def _observe(self, now: datetime, claimed: list[Claimed]) -> None:
        """Count the fired timers and how late each was claimed (a timer claimed again
        after a lease ran out counts from the lease's end)."""
        self.metrics.timers_fired.inc(len(claimed))
        for timer in claimed:
            self.metrics.timer_lag_seconds.observe((now - timer.due_at).total_seconds())

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
