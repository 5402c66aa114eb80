"""Reading every document of a kind, for digests (a weekly full count, not a hot path)."""

from __future__ import annotations

from redis.asyncio import Redis

SCAN_BATCH = 1000


async def scan_documents(redis: Redis, pattern: str) -> list[str]:
    """The JSON of every versioned document whose key matches `pattern`."""
    found: list[str] = []
    keys: list[bytes | str] = []
    async for key in redis.scan_iter(match=pattern, count=SCAN_BATCH):
        keys.append(key)
        if len(keys) >= SCAN_BATCH:
            found += await _read(redis, keys)
            keys = []
    return found + await _read(redis, keys)


async def _read(redis: Redis, keys: list[bytes | str]) -> list[str]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "s")
        values = await pipe.execute()
    return [v.decode() if isinstance(v, bytes) else v for v in values if v is not None]
