"""The Redis client factory: a URL, or the primary the sentinels name (no network needed),
and which Redis errors say "no writes now" rather than "this record is bad"."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import MasterNotFoundError, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError

from services.errors import NotReplicated, store_refuses_writes
from services.guard import Record, RecordGuard
from services.settings import Settings
from services.store.client import (
    FAILOVER_RETRIES,
    SENTINEL_TIMEOUT_S,
    BlockingSentinelConnectionPool,
    SentinelRedis,
    redis_client,
)
from services.store.replicas import NO_WAIT, ReplicaWait

SENTINELS = "10.0.0.1:26379,10.0.0.2:26380,sentinel-3:26381"


def sentinel_settings(url: str = "redis://:s3cret@ignored-host:6379/4") -> Settings:
    return Settings(redis_url=url, redis_sentinels=SENTINELS, redis_master="duban-main")


def sentinel_addresses(pool: SentinelConnectionPool) -> list[tuple[str, int]]:
    return [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in pool.sentinel_manager.sentinels
    ]


async def test_without_sentinels_the_url_is_used_as_before() -> None:
    client = redis_client(Settings(redis_url="redis://cache:6390/3"), socket_timeout=2.0)
    pool = client.connection_pool
    assert type(client) is Redis and type(pool) is ConnectionPool
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache", 6390, 3)
    assert kwargs["socket_timeout"] == 2.0
    await client.aclose()


async def test_without_sentinels_a_blocking_pool_waits_for_a_free_connection() -> None:
    client = redis_client(Settings(redis_url="redis://cache:6390/3"), blocking_pool_max=80)
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool) and pool.max_connections == 80
    assert pool.connection_kwargs["host"] == "cache"
    await client.aclose()


async def test_with_sentinels_the_primary_is_asked_of_every_sentinel_given() -> None:
    client = redis_client(sentinel_settings(), socket_timeout=2.0)
    pool = client.connection_pool
    assert isinstance(client, SentinelRedis)
    assert type(pool) is SentinelConnectionPool and pool.is_master
    assert pool.service_name == "duban-main"
    assert sentinel_addresses(pool) == [
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26380),
        ("sentinel-3", 26381),
    ]
    # DUBAN_REDIS_URL still gives the password and the database, never the host.
    kwargs = pool.connection_kwargs
    assert (kwargs["password"], kwargs["db"], kwargs["socket_timeout"]) == ("s3cret", 4, 2.0)
    assert "host" not in kwargs
    connection = pool.make_connection()  # type: ignore[no-untyped-call]
    assert connection.retry.get_retries() == FAILOVER_RETRIES  # rides a failover out
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel["socket_timeout"] == SENTINEL_TIMEOUT_S  # a hung sentinel is skipped
    assert sentinel["password"] is None  # the data nodes' password is not the sentinels'
    await client.aclose()


async def test_with_sentinels_the_notifiers_pool_blocks_too() -> None:
    client = redis_client(sentinel_settings(), blocking_pool_max=320)
    pool = client.connection_pool
    assert isinstance(pool, BlockingSentinelConnectionPool)
    assert isinstance(pool, BlockingConnectionPool) and pool.max_connections == 320
    assert pool.service_name == "duban-main" and len(pool.sentinel_manager.sentinels) == 3
    await client.aclose()


async def test_with_sentinels_a_tls_url_keeps_tls() -> None:
    client = redis_client(sentinel_settings("rediss://:pw@ignored:6380/0?ssl_cert_reqs=none"))
    connection = client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
    assert isinstance(connection, SSLConnection)
    await client.aclose()


@pytest.mark.parametrize(
    ("error", "refuses"),
    [
        (ReadOnlyError("You can't write against a read only replica."), True),
        (MasterNotFoundError("No master found for 'mymaster'"), True),
        (ResponseError("NOREPLICAS Not enough good replicas to write. script: 1f, on @u:1."), True),
        (NotReplicated("WAIT: 0 of 1 replica(s)"), True),
        (ResponseError("ERR value is not an integer or out of range"), False),
        (RedisConnectionError("Connection refused"), False),
    ],
)
def test_what_says_the_store_takes_no_writes(error: BaseException, refuses: bool) -> None:
    assert store_refuses_writes(error) is refuses


async def test_a_batch_refused_by_a_replica_is_redelivered_even_while_ping_answers() -> None:
    """After a failover PING works on the demoted node: the batch must wait, not be
    dead-lettered record by record."""
    dead: list[Record] = []

    async def dead_letter(record: Record, reason: str) -> None:
        dead.append(record)

    async def healthy() -> bool:
        return True

    async def no_pause(seconds: float) -> None:
        return None

    async def handle(batch: Sequence[Record]) -> None:
        raise ResponseError("NOREPLICAS Not enough good replicas to write.")

    log = logging.getLogger("test.redis_client")
    guard = RecordGuard("engine", dead_letter, healthy, log, 3, 2.0, no_pause)
    with pytest.raises(ResponseError, match="NOREPLICAS"):
        await guard.run([Record(b"{}", "t", 0, 7)], handle)
    assert dead == []


def test_the_replica_wait_comes_from_the_settings() -> None:
    settings = Settings(redis_wait_replicas=1, redis_wait_timeout_ms=250)
    assert ReplicaWait.of(settings) == ReplicaWait(1, 250)
    assert ReplicaWait.of(Settings()) == NO_WAIT and NO_WAIT.replicas == 0
