"""The timers section: duban's TimerStore, a raw sorted set and APScheduler side by side."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.perf import timers_apscheduler, timers_engine
from tests.perf.common import Figure, Peer, Section, db_url, rounded
from tests.perf.timers import TimerRun, duban_run, raw_run
from tests.stack import LocalStack

REDIS_DB = 5
FIRE_TARGET = 25_000.0
LAG_P99_TARGET = 1.0


async def run(
    stack: LocalStack,
    count: int = 1_000_000,
    window_s: float = 25.0,
    aps_count: int = 50_000,
    engine_hazards: int = 20_000,
) -> Section:
    """Every timer figure, measured in this order: duban, raw, APScheduler, engine path."""
    section = Section("Timers (Redis sorted set; one firing loop, batches of 500)")
    redis = Redis.from_url(db_url(stack.redis_url, REDIS_DB))
    await redis.flushdb()
    try:
        duban = await duban_run(redis, "bench:timers:duban", count, window_s)
        duban_backlog = await duban_run(redis, "bench:timers:duban", count, 0.0)
        raw = await raw_run(redis, "bench:timers:raw", count, window_s)
        raw_backlog = await raw_run(redis, "bench:timers:raw", count, 0.0)
        aps_backlog = await timers_apscheduler.backlog_run(redis, REDIS_DB, aps_count)
        aps = await timers_apscheduler.window_run(
            redis, REDIS_DB, aps_count, window_s * aps_count / count, aps_backlog.schedule_per_s
        )
    finally:
        await redis.flushdb()
        await redis.aclose()
    engine = await timers_engine.engine_fire_run(stack, engine_hazards)
    section.details = {
        "duban_window": duban.summary(),
        "duban_backlog": duban_backlog.summary(),
        "raw_window": raw.summary(),
        "raw_backlog": raw_backlog.summary(),
        "apscheduler_window": aps.summary(),
        "apscheduler_backlog": aps_backlog.summary(),
        "apscheduler_count_note": (
            f"APScheduler ran {aps_count:,} timers, not {count:,}: it schedules and fires "
            f"~{rounded(aps_backlog.schedule_per_s, 0)}/s, so {count:,} would take "
            f"~{count / max(aps_backlog.schedule_per_s, 1) / 60:.0f} min to schedule alone. "
            "Its per-timer cost is a fixed number of Redis round trips and a pickle, so "
            "the rates carry over to 1M; its window was shortened to keep the same "
            "arrival rate (timers due per second), which flatters its lag."
        ),
        "engine_path": engine,
    }
    section.figures += figures(duban, duban_backlog, raw, raw_backlog, aps, aps_backlog, window_s)
    section.figures.append(
        Figure(
            "timer fires through the engine",
            engine["fire_per_s"],
            "fires/s",
            f"{engine_hazards:,} hazards' d1 reminders due at once (fake clock jump); real "
            "TimerLoop → Engine.fire → notice.requested on Kafka → state commit",
        )
    )
    return section


def figures(
    duban: TimerRun,
    duban_backlog: TimerRun,
    raw: TimerRun,
    raw_backlog: TimerRun,
    aps: TimerRun,
    aps_backlog: TimerRun,
    window_s: float,
) -> list[Figure]:
    """The timer figures, each with the raw loop and APScheduler beside it."""

    def peers(raw_value: float | None, aps_value: float | None) -> list[Peer]:
        return [
            Peer("raw redis-py sorted set", rounded(raw_value, 4)),
            Peer(f"APScheduler 3.11 RedisJobStore ({aps.count:,} timers)", rounded(aps_value, 4)),
        ]

    spread = f"{duban.count:,} timers due evenly over {window_s:.0f} s"
    return [
        Figure(
            "timer schedule rate",
            rounded(duban.schedule_per_s),
            "timers/s",
            "TimerStore.schedule_many: ZADD of 10,000 members per command, pipelined",
            peers=peers(raw.schedule_per_s, aps_backlog.schedule_per_s),
        ),
        Figure(
            "timer fire rate (backlog drain)",
            rounded(duban_backlog.fire_per_s),
            "fires/s",
            "every timer already due; TimerLoop claims 500 per Lua call, fire = one ZREM",
            target=FIRE_TARGET,
            peers=peers(raw_backlog.fire_per_s, aps_backlog.fire_per_s),
        ),
        Figure(
            "timer fire rate (due while firing)",
            rounded(duban.fire_per_s),
            "fires/s",
            f"{spread}: start of window to last fire",
            target=FIRE_TARGET,
            peers=peers(raw.fire_per_s, aps.fire_per_s),
        ),
        Figure(
            "timer fire lag p50",
            rounded(duban.lag(50), 4),
            "s",
            f"{spread}; lag = fire start − due time (idle poll 0.2 s)",
            higher_is_better=False,
            peers=peers(raw.lag(50), aps.lag(50)),
        ),
        Figure(
            "timer fire lag p99",
            rounded(duban.lag(99), 4),
            "s",
            f"{spread}; lag = fire start − due time (idle poll 0.2 s)",
            target=LAG_P99_TARGET,
            higher_is_better=False,
            peers=peers(raw.lag(99), aps.lag(99)),
        ),
        Figure(
            "Redis bytes per pending timer",
            rounded(duban.bytes_per_timer),
            "bytes",
            "MEMORY USAGE <key> SAMPLES 0 / timers (APScheduler: its hash + sorted set)",
            higher_is_better=False,
            peers=peers(raw.bytes_per_timer, aps_backlog.bytes_per_timer),
        ),
    ]
