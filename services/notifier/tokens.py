"""The work-chat apps' access tokens in Redis, shared by every notifier replica.

One hash per app (``services.store.keys.app_token_key``) holds the token, its expiry and
its refresh time, and expires with the token; the fetch lock is a plain key set with
``SET NX PX`` and removed only by its holder. See
:mod:`services.notifier.channels.apptoken` for how the channels use them.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from services.notifier.channels.apptoken import CachedToken
from services.store.keys import app_token_key, app_token_lock_key

# Delete KEYS[1] only if its field / value still is ARGV[1].
_DISCARD = """
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenStore:
    """A :class:`~services.notifier.channels.apptoken.TokenStore` on Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._discard = redis.register_script(_DISCARD)
        self._unlock = redis.register_script(_UNLOCK)

    async def read(self, app: str) -> CachedToken | None:
        value, expires_at, refresh_at = await self.redis.hmget(
            app_token_key(app), ["v", "exp", "ref"]
        )
        if value is None or expires_at is None or refresh_at is None:
            return None
        return CachedToken(_text(value), float(expires_at), float(refresh_at))

    async def write(self, app: str, token: CachedToken, now: float) -> None:
        key = app_token_key(app)
        ttl_ms = max(1, int((token.expires_at - now) * 1000))
        fields: dict[FieldT, EncodableT] = {
            "v": token.value,
            "exp": repr(token.expires_at),
            "ref": repr(token.refresh_at),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, ttl_ms)
            await pipe.execute()

    async def discard(self, app: str, value: str) -> None:
        await self._discard(keys=[app_token_key(app)], args=[value])

    async def try_lock(self, app: str, owner: str, ttl_s: float, now: float) -> bool:
        ttl_ms = max(1, int(ttl_s * 1000))
        return bool(await self.redis.set(app_token_lock_key(app), owner, nx=True, px=ttl_ms))

    async def unlock(self, app: str, owner: str) -> None:
        await self._unlock(keys=[app_token_lock_key(app)], args=[owner])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
