"""Notices held back by quiet hours: a Redis sorted set by release time, claimed with a lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from contracts.notice import NoticeRequested
from services.store.keys import DEFERRED_KEY, DEFERRED_PAYLOAD_KEY
from services.store.ports import Claimed
from services.store.replicas import NO_WAIT, ReplicaWait
from services.store.timers import RedisTimerStore, to_ms


def deferral_id(notice: NoticeRequested) -> str:
    """One deferral per notice occurrence and recipient."""
    return f"{notice.notice_id}#{notice.occurrence}@{notice.recipient.person_id}"


@dataclass(frozen=True)
class Unreadable:
    """A held payload that no longer parses (stored by an older version, or damaged)."""

    member: str
    raw: bytes
    reason: str


class DeferredStore:
    """Hold notices until a moment, then hand them back once."""

    def __init__(self, redis: Redis, wait: ReplicaWait = NO_WAIT) -> None:
        self.redis = redis
        self.timers = RedisTimerStore(redis, DEFERRED_KEY)
        self.wait = wait

    async def hold(self, notice: NoticeRequested, until: datetime) -> None:
        """Keep the notice until `until` (idempotent: holding it again changes nothing);
        one round trip, then a WAIT for replicas when asked."""
        member = deferral_id(notice)

        def queue(pipe: Pipeline) -> None:
            pipe.hset(DEFERRED_PAYLOAD_KEY, member, notice.model_dump_json())
            pipe.zadd(DEFERRED_KEY, {member: to_ms(until)})

        await self.wait.commands(self.redis, queue)

    async def claim(
        self, now: datetime, limit: int, lease_s: float
    ) -> list[NoticeRequested | Unreadable]:
        """Notices whose time has come, leased to this replica; a payload that does not
        parse comes back as Unreadable, so it can be dead-lettered rather than block."""
        claimed: list[Claimed] = await self.timers.claim_due(now, limit, lease_s)
        if not claimed:
            return []
        members = [c.member for c in claimed]
        payloads = await self.redis.hmget(DEFERRED_PAYLOAD_KEY, members)
        return [_parsed(m, p) for m, p in zip(members, payloads, strict=True) if p is not None]

    async def forget(self, member: str) -> None:
        """Drop a deferral by its member (an unreadable one, once dead-lettered)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DEFERRED_KEY, member)
            pipe.hdel(DEFERRED_PAYLOAD_KEY, member)
            await pipe.execute()

    async def done(self, notice: NoticeRequested) -> None:
        """Forget a notice once it was handled."""
        await self.forget(deferral_id(notice))


def _parsed(member: str, payload: bytes | str) -> NoticeRequested | Unreadable:
    payload = payload.encode() if isinstance(payload, str) else payload
    try:
        return NoticeRequested.model_validate_json(payload)
    except (ValidationError, ValueError) as e:
        return Unreadable(member, payload, f"{type(e).__name__}, {len(payload)} bytes")
