"""The one place duban opens Redis: the server at DUBAN_REDIS_URL, or the primary that
the sentinels of DUBAN_REDIS_SENTINELS name.

With sentinels, every new connection asks them where the primary is (redis-py's
SentinelConnectionPool), so after a failover the client reconnects to the new primary by
itself. A connection still open to a demoted primary answers READONLY: redis-py then
drops it and raises ConnectionError. Sentinel clients retry a command on ConnectionError
and TimeoutError for about `FAILOVER_RIDE_S` (a failover with `down-after-milliseconds`
of a few seconds fits in it), so most writes ride a failover out instead of failing
their batch; whatever still fails is an infrastructure error (services/errors.py) and
its batch is redelivered. A retried write may have been applied once already: every
write duban makes is keyed or compare-and-set (docs/architecture.md), so it does no harm.

Lua scripts (`register_script`) need nothing more: the new primary may not have a
script cached, and redis-py's Script loads it again on NOSCRIPT.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff

from services.settings import Settings

SENTINEL_TIMEOUT_S = 1.0  # a sentinel that does not answer in time is skipped
FAILOVER_RETRIES = 20
FAILOVER_BACKOFF = ExponentialBackoff(cap=0.5, base=0.05)  # 0.1 s, 0.2 s, 0.4 s, then 0.5 s
FAILOVER_RIDE_S = 0.1 + 0.2 + 0.4 + 0.5 * (FAILOVER_RETRIES - 3)  # ~9 s of pauses
BLOCKING_WAIT_S = 30.0  # how long a blocking pool waits for a free connection
# From DUBAN_REDIS_URL, with sentinels: who we are and which database, not where.
_URL_KEYS_WITH_SENTINELS = ("username", "password", "db")


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary's connections, at most ``max_connections``: a caller waits (up to
    ``timeout`` seconds) for a free one rather than failing."""


class SentinelRedis(Redis):
    """A client of the primary the sentinels name; closing it closes its sentinel clients
    too (redis-py leaves them to the caller)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        await super().aclose(close_connection_pool)
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def redis_client(
    settings: Settings,
    *,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
    blocking_pool_max: int | None = None,
) -> Redis:
    """A client of duban's Redis. ``blocking_pool_max``: at most that many connections,
    and a caller waits for a free one instead of failing (the notifier's many concurrent
    deliveries)."""
    timeouts: dict[str, Any] = {
        k: v
        for k, v in (
            ("socket_timeout", socket_timeout),
            ("socket_connect_timeout", socket_connect_timeout),
        )
        if v is not None
    }
    if settings.redis_sentinels is None:
        if blocking_pool_max is None:
            return Redis.from_url(settings.redis_url, **timeouts)
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=blocking_pool_max,
            timeout=BLOCKING_WAIT_S,
            **timeouts,
        )
        return Redis.from_pool(pool)
    return _primary(settings, timeouts, blocking_pool_max)


def _primary(settings: Settings, timeouts: dict[str, Any], blocking_pool_max: int | None) -> Redis:
    """The client of the primary named by the sentinels."""
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinel_addresses,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        },
        **_from_url(settings.redis_url),
        **timeouts,
        retry=Retry(FAILOVER_BACKOFF, FAILOVER_RETRIES),
    )
    blocking: dict[str, Any] = {}
    if blocking_pool_max is not None:
        blocking = {
            "connection_pool_class": BlockingSentinelConnectionPool,
            "max_connections": blocking_pool_max,
            "timeout": BLOCKING_WAIT_S,
        }
    client: Redis = sentinel.master_for(
        settings.redis_master, redis_class=SentinelRedis, **blocking
    )
    return client


def _from_url(url: str) -> dict[str, Any]:
    """The connection options of DUBAN_REDIS_URL that still apply with sentinels."""
    options = parse_url(url)
    kept = {k: v for k, v in options.items() if k in _URL_KEYS_WITH_SENTINELS}
    if options.get("connection_class") is SSLConnection:  # rediss://
        kept |= {k: v for k, v in options.items() if k.startswith("ssl_")} | {"ssl": True}
    return kept
