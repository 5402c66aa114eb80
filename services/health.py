"""Health that tells the truth: is Kafka reachable, is Redis, has the consumer its partitions.

`/healthz` answers while the process serves (liveness); `/readyz` asks `Health.problems()`
(readiness). The record guard asks `Health.healthy()` to tell an infrastructure outage
(redeliver later) from a record that fails while everything answers (dead-letter it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

PROBE_TIMEOUT_S = 2.0


@dataclass
class Health:
    """The reachability of one service's Kafka broker, Redis and consumers."""

    name: str
    broker: KafkaBroker
    redis: Redis | None = None
    timeout_s: float = PROBE_TIMEOUT_S
    checks: list[str] = field(default_factory=lambda: ["kafka", "redis", "consumer"])

    async def healthy(self) -> bool:
        """Kafka and Redis both answer (the consumer's assignment does not matter here)."""
        kafka, redis = await asyncio.gather(self._kafka(), self._redis())
        return kafka is None and redis is None

    async def problems(self) -> list[str]:
        """What keeps this service from being ready; empty when it is ready."""
        found = await asyncio.gather(self._kafka(), self._redis())
        return [p for p in (*found, self._consumer()) if p is not None]

    async def _kafka(self) -> str | None:
        try:
            ok = await self.broker.ping(timeout=self.timeout_s)
        except Exception as e:  # a probe reports, it never raises
            return f"{self.name}: Kafka unreachable ({type(e).__name__})"
        return None if ok else f"{self.name}: Kafka unreachable"

    async def _redis(self) -> str | None:
        if self.redis is None:
            return None if "redis" not in self.checks else f"{self.name}: Redis not connected yet"
        try:
            await asyncio.wait_for(self.redis.ping(), self.timeout_s)
        except Exception as e:
            return f"{self.name}: Redis unreachable ({type(e).__name__})"
        return None

    def _consumer(self) -> str | None:
        if "consumer" not in self.checks:
            return None
        subscribers = self.broker.subscribers
        consumers = [getattr(s, "consumer", None) for s in subscribers]
        if not consumers or any(c is None for c in consumers):
            return f"{self.name}: consumer not started"
        if not all(c.assignment() for c in consumers):  # type: ignore[union-attr]
            return f"{self.name}: consumer has no partitions assigned (yet)"
        return None
