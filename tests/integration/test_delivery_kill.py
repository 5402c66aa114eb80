"""A notifier killed mid-batch (every task cancelled, no graceful stop: no offset commit, no
leaving the consumer group) and a new one started: every email goes out exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter

from redis.asyncio import Redis

from services.notifier.app import NotifierParts, create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import wait_for
from tests.integration.deliverykit import notice, notice_publisher
from tests.providers import FakeSmtpServer

TOTAL = 30
HELD = 1000  # every MAIL command from the moment of the kill on is held by the fake


class KillableNotifier:
    """A notifier in its own thread and event loop, so that all of it can be killed."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.settings, self.clock = settings, clock
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.parts: NotifierParts | None = None
        self.lifespan: contextlib.AbstractAsyncContextManager[None] | None = None

    async def start(self) -> None:
        self.thread.start()
        await self._in_loop(self._start())

    async def kill(self) -> None:
        """Cancel every task of the notifier at once; nothing stops gracefully."""
        await self._in_loop(_cancel_everything())
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self.thread.join, 10)

    async def _start(self) -> None:
        self.parts = create_notifier(self.settings, clock=self.clock)
        # Held: a lifespan context dropped here would be collected and run its exit (close
        # the channels, close the ledger and Redis) while the notifier still works.
        self.lifespan = self.parts.app.lifespan_context()
        await self.lifespan.__aenter__()
        await self.parts.app.start()

    async def _in_loop(self, job: object) -> None:
        future = asyncio.run_coroutine_threadsafe(job, self.loop)  # type: ignore[arg-type]
        await asyncio.wrap_future(future)


async def _cancel_everything() -> None:
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=10)


async def ledger_counts(redis: Redis) -> Counter[str]:
    """How many deliveries the ledger holds as 'sent' and as 'sending' (leased)."""
    keys = [k async for k in redis.scan_iter("duban:delivery:*")]
    values = await redis.mget(keys) if keys else []
    return Counter(v.decode().split(":")[0] for v in values if v is not None)


async def test_a_notifier_killed_mid_batch_and_restarted_sends_nothing_twice(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, redis: Redis
) -> None:
    settings = settings.model_copy(update={"batch_max": 5})
    async with notice_publisher(settings) as send:
        for n in range(TOTAL):
            await send(notice(n, "email"))
    first = KillableNotifier(settings, clock)
    await first.start()
    await wait_for(lambda: len(smtp.messages) >= 8, what="the first emails")
    smtp.delay_next(HELD, stage="mail", seconds=60)

    async def parked() -> bool:
        """Every handed-over email recorded as sent; every send in flight held at MAIL."""
        counts, held = await ledger_counts(redis), HELD - len(smtp.plan.delays["mail"])
        return counts["sent"] == len(smtp.messages) and counts["sending"] == held > 0

    await wait_for(parked, what="sends in flight held before the message is handed over")
    in_flight = HELD - len(smtp.plan.delays["mail"])
    handed_over = len(smtp.messages)
    await first.kill()
    smtp.plan.delays["mail"].clear()

    async with running(create_notifier(settings, clock=clock).app):
        await wait_for(lambda: len(smtp.messages) >= TOTAL, timeout_s=90, what="every email")
        await wait_for(lambda: _sent(redis, TOTAL), what="every email recorded as sent")
    ids = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert len(ids) == TOTAL
    assert set(ids.values()) == {1}, f"sent twice: {[k for k, v in ids.items() if v > 1]}"
    assert in_flight > 0 and handed_over < TOTAL  # killed in the middle, with sends in flight


async def _sent(redis: Redis, total: int) -> bool:
    return (await ledger_counts(redis))["sent"] == total
