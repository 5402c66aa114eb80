"""The peer for timers: APScheduler 3.11 (AsyncIOScheduler + RedisJobStore, `date` jobs).

This is what a Python service would use today for durable one-shot timers. Each timer
is one job with a `date` trigger, stored by RedisJobStore (a hash of pickled jobs and a
sorted set of run times). The job is a no-op coroutine that notes its lag, run by the
scheduler's default AsyncIOExecutor; `misfire_grace_time=None` so late jobs still run
(the default, 1 s, would silently skip them) and every timer is counted.

Same protocol as tests/perf/timers.py: schedule `count` jobs, then let them fire as
they fall due over a window, then a backlog run. APScheduler cannot read a shifted
clock, so its window starts a little after the scheduling is expected to end (the
schedule rate of a first, discarded pass of the same size tells how long that is).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from tests.perf.timers import TimerRun, bytes_per_member, due_times, fire_all

LAGS = array("d")
MARGIN_S = 2.0


async def fired(due_s: float) -> None:
    """The job: note how late it runs."""
    LAGS.append(time.time() - due_s)


def scheduler(db: int, host: str, port: int, tag: str) -> AsyncIOScheduler:
    """A paused AsyncIOScheduler on a RedisJobStore of its own keys."""
    store = RedisJobStore(
        db=db,
        jobs_key=f"{tag}.jobs",
        run_times_key=f"{tag}.run_times",
        host=host,
        port=port,
    )
    sched = AsyncIOScheduler(
        jobstores={"default": store},
        job_defaults={"misfire_grace_time": None, "coalesce": False},
        timezone=UTC,
    )
    sched.start(paused=True)
    return sched


def add_jobs(sched: AsyncIOScheduler, due: array) -> float:
    """Add one `date` job per due time; returns jobs/s."""
    started = time.perf_counter()
    for i, at in enumerate(due):
        sched.add_job(
            fired,
            "date",
            run_date=datetime.fromtimestamp(at, UTC),
            args=[at],
            id=f"hazard:H{i}",
        )
    return len(due) / (time.perf_counter() - started)


async def backlog_run(redis: Redis, db: int, count: int) -> TimerRun:
    """Schedule `count` jobs due now (paused: nothing runs yet), then drain them."""
    run = TimerRun(count)
    async with paused_scheduler(redis, db) as (sched, keys):
        run.schedule_per_s = add_jobs(sched, due_times(count, time.time(), 0.0))
        used = [await bytes_per_member(redis, key, count) or 0.0 for key in keys]
        run.bytes_per_timer = sum(used)
        await fire(sched, run, 0.0)
    return run


async def window_run(
    redis: Redis, db: int, count: int, window_s: float, schedule_per_s: float
) -> TimerRun:
    """Schedule `count` jobs due over a window that opens once scheduling is done."""
    run = TimerRun(count)
    async with paused_scheduler(redis, db) as (sched, _):
        start = time.time() + count / schedule_per_s * 1.5 + MARGIN_S
        run.schedule_per_s = add_jobs(sched, due_times(count, start, window_s))
        await asyncio.sleep(max(0.0, start - time.time()))
        await fire(sched, run, window_s)
    return run


async def fire(sched: AsyncIOScheduler, run: TimerRun, window_s: float) -> None:
    """Resume the scheduler and wait until every job ran; lags into `run`."""
    del LAGS[:]
    resumed = Resumed(sched)
    run.fire_seconds = await fire_all(
        resumed.run, resumed.stop, lambda: len(LAGS), run.count, window_s
    )
    run.fired, run.lags = len(LAGS), array("d", LAGS)


@contextlib.asynccontextmanager
async def paused_scheduler(
    redis: Redis, db: int
) -> AsyncIterator[tuple[AsyncIOScheduler, tuple[str, str]]]:
    """A paused scheduler on job store keys of its own, removed afterwards."""
    kwargs = redis.connection_pool.connection_kwargs
    tag = f"bench-aps-{time.time_ns()}"
    sched = scheduler(db, kwargs["host"], kwargs["port"], tag)
    try:
        yield sched, (f"{tag}.jobs", f"{tag}.run_times")
    finally:
        sched.remove_all_jobs()
        sched.shutdown(wait=False)


class Resumed:
    """The scheduler running (unpaused) until stopped, as a fire loop for `fire_all`."""

    def __init__(self, sched: AsyncIOScheduler) -> None:
        self.sched = sched
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Resume; jobs now run on this event loop until `stop`."""
        self.sched.resume()
        await self._stop.wait()

    def stop(self) -> None:
        """Pause again."""
        self.sched.pause()
        self._stop.set()
