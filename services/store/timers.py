"""Durable timers: a Redis sorted set scored by due time, claimed with a lease.

A member is an entity ("hazard:<id>"), so each entity has at most one pending timer and
re-planning is a single ZADD. Claiming moves a due timer's score to now + lease in one
Lua call, so exactly one replica gets it; the claimer's commit then sets the next due
time (or removes it). If the claimer dies, the lease expires and another replica fires
it again — harmless, because firing re-evaluates current state and effects are keyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.store.keys import TIMERS_KEY
from services.store.ports import EMPTY, Claimed, TimerStore

# TimerStore (the port) is named here too while services.engine.timers imports it from here.
__all__ = ["Claimed", "RedisTimerStore", "TimerStore", "from_ms", "to_ms"]

# KEYS[1]: timers zset. ARGV: now_ms, limit, lease_ms, then (member, held_from_ms) pairs:
# a held member due at or after its moment is left as it is.
_CLAIM = """
local limit = tonumber(ARGV[2])
local held = {}
for i = 4, #ARGV, 2 do held[ARGV[i]] = tonumber(ARGV[i + 1]) end
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0,
                       limit + (#ARGV - 3) / 2, 'WITHSCORES')
local lease_until = tonumber(ARGV[1]) + tonumber(ARGV[3])
local claimed = {}
for i = 1, #due, 2 do
  local from = held[due[i]]
  if #claimed < 2 * limit and (from == nil or tonumber(due[i + 1]) < from) then
    redis.call('ZADD', KEYS[1], lease_until, due[i])
    claimed[#claimed + 1] = due[i]
    claimed[#claimed + 1] = due[i + 1]
  end
end
return claimed
"""


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: float) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class RedisTimerStore:
    """The TimerStore port on a Redis sorted set: schedule, claim and inspect timers."""

    def __init__(self, redis: Redis, key: str = TIMERS_KEY) -> None:
        self.redis = redis
        self.key = key
        self._claim = redis.register_script(_CLAIM)

    async def schedule(self, member: str, due_at: datetime) -> None:
        """Set (or move) a member's timer."""
        await self.redis.zadd(self.key, {member: to_ms(due_at)})

    async def schedule_many(self, due: Mapping[str, datetime], chunk: int = 10_000) -> None:
        """Set (or move) many timers: one ZADD per `chunk` members, pipelined."""
        items = [(member, to_ms(at)) for member, at in due.items()]
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(items), chunk):
                pipe.zadd(self.key, dict(items[start : start + chunk]))
            await pipe.execute()

    async def cancel(self, member: str) -> None:
        """Remove a member's timer."""
        await self.redis.zrem(self.key, member)

    async def claim_due(
        self, now: datetime, limit: int, lease_s: float, held: Mapping[str, datetime] = EMPTY
    ) -> list[Claimed]:
        """Claim up to `limit` timers due at `now`, leasing them for `lease_s` seconds; a
        member in `held` is not claimed if it is due at or after its moment there."""
        pairs = [v for member, at in held.items() for v in (member, to_ms(at))]
        args = [to_ms(now), limit, int(lease_s * 1000), *pairs]
        rows = await self._claim(keys=[self.key], args=args)
        return [
            Claimed(_text(rows[i]), from_ms(float(rows[i + 1]))) for i in range(0, len(rows), 2)
        ]

    async def next_due(self) -> datetime | None:
        """The earliest pending due time (leased timers included)."""
        first = await self.redis.zrange(self.key, 0, 0, withscores=True)
        return from_ms(float(first[0][1])) if first else None

    async def pending(self) -> int:
        """How many timers are pending."""
        return int(await self.redis.zcard(self.key))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
