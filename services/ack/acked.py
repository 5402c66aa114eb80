"""Acknowledgements already taken, so the page can say "已确认过" instead of asking again.

This is what the page shows, not what makes the effect happen once: the event id
(services.ack.app.acknowledgement_id) already makes the engine drop a repeat. So the record
is written only after Kafka took the acknowledgement (a crash in between costs at most a
second, harmless publication), and Redis trouble never stops an acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.store.keys import acked_key

# Longer than a link lives (services.notifier.acklinks.LINK_TTL_S, 30 days).
KEEP_S = 45 * 86400


class AckedStore(Protocol):
    """When each acknowledgement was taken, by acknowledgement id."""

    async def taken_at(self, ack_id: str) -> datetime | None:
        """When this acknowledgement was taken, or None if it was not (yet)."""
        ...

    async def remember(self, ack_id: str, at: datetime) -> None:
        """Record that it was taken at `at` (the first time is kept)."""
        ...


@dataclass
class RedisAcked:
    """AckedStore on Redis: one string per acknowledgement, its time, kept KEEP_S."""

    redis: Redis
    keep_s: int = KEEP_S

    async def taken_at(self, ack_id: str) -> datetime | None:
        """When this acknowledgement was taken, or None if it was not (yet)."""
        value = await self.redis.get(acked_key(ack_id))
        return None if value is None else _time(value)

    async def remember(self, ack_id: str, at: datetime) -> None:
        """Record that it was taken at `at` (the first time is kept)."""
        await self.redis.set(acked_key(ack_id), at.isoformat(), nx=True, ex=self.keep_s)


@dataclass
class MemoryAcked:
    """AckedStore in memory, for tests and `duban simulate`."""

    times: dict[str, datetime] = field(default_factory=dict)
    failing: bool = False  # every call raises what redis-py raises when Redis is down

    async def taken_at(self, ack_id: str) -> datetime | None:
        """When this acknowledgement was taken, or None if it was not (yet)."""
        self._check()
        return self.times.get(ack_id)

    async def remember(self, ack_id: str, at: datetime) -> None:
        """Record that it was taken at `at` (the first time is kept)."""
        self._check()
        self.times.setdefault(ack_id, at)

    def _check(self) -> None:
        if self.failing:
            raise RedisConnectionError("memory store told to fail")


def _time(value: bytes | str) -> datetime | None:
    """The stored time; None for a value this module did not write (the page then asks
    again, and the engine drops a repeat)."""
    text = value.decode() if isinstance(value, bytes) else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
