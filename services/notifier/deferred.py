"""Notices held back by quiet hours: a Redis sorted set by release time, claimed with a lease."""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from contracts.notice import NoticeRequested
from services.store.timers import Claimed, TimerStore

DEFERRED_KEY = "duban:deferred"
PAYLOAD_KEY = "duban:deferred:payload"


def deferral_id(notice: NoticeRequested) -> str:
    """One deferral per notice occurrence and recipient."""
    return f"{notice.notice_id}#{notice.occurrence}@{notice.recipient.person_id}"


class DeferredStore:
    """Hold notices until a moment, then hand them back once."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.timers = TimerStore(redis, DEFERRED_KEY)

    async def hold(self, notice: NoticeRequested, until: datetime) -> None:
        """Keep the notice until `until` (idempotent: holding it again changes nothing)."""
        member = deferral_id(notice)
        await self.redis.hset(PAYLOAD_KEY, member, notice.model_dump_json())
        await self.timers.schedule(member, until)

    async def claim(self, now: datetime, limit: int, lease_s: float) -> list[NoticeRequested]:
        """Notices whose time has come, leased to this replica."""
        claimed: list[Claimed] = await self.timers.claim_due(now, limit, lease_s)
        if not claimed:
            return []
        payloads = await self.redis.hmget(PAYLOAD_KEY, [c.member for c in claimed])
        return [NoticeRequested.model_validate_json(p) for p in payloads if p is not None]

    async def done(self, notice: NoticeRequested) -> None:
        """Forget a notice once it was handled."""
        member = deferral_id(notice)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DEFERRED_KEY, member)
            pipe.hdel(PAYLOAD_KEY, member)
            await pipe.execute()
