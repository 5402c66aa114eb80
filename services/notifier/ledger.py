"""The delivery ledger: one Redis key per notice × occurrence × recipient × channel.

A delivery is claimed with a lease before sending ("sending:<owner>"), and marked
"sent" only after the provider accepted it (Alertmanager's rule: record after success).
A replica that finds "sent" does nothing; one that finds another's live lease waits
for it; a lease left by a crashed replica expires and the delivery is taken over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from redis.asyncio import Redis

PREFIX = "duban:delivery:"
SENT_TTL_S = 180 * 86400  # far longer than any redelivery or replay window

Claim = Literal["claimed", "sent", "busy"]

# KEYS[1]: delivery key. ARGV: owner, lease_ms. Returns claimed / sent / busy.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], 'sending:' .. ARGV[1], 'PX', ARGV[2])
  return 'claimed'
end
if string.sub(current, 1, 4) == 'sent' then return 'sent' end
if current == 'sending:' .. ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'claimed'
end
return 'busy'
"""

# KEYS[1]: delivery key. ARGV: owner. Drops our own lease only.
_RELEASE = """
if redis.call('GET', KEYS[1]) == 'sending:' .. ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class DeliveryLedger:
    """Claims, completes and releases deliveries by key."""

    def __init__(self, redis: Redis, owner: str) -> None:
        self.redis = redis
        self.owner = owner
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    async def claim(self, key: str, lease_s: float) -> Claim:
        """Try to own a delivery for `lease_s` seconds."""
        answer = await self._claim(keys=[PREFIX + key], args=[self.owner, int(lease_s * 1000)])
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        if text not in ("claimed", "sent", "busy"):
            raise RuntimeError(f"unexpected ledger answer {text!r} for {key}")
        return text  # type: ignore[return-value]

    async def mark_sent(self, key: str, receipt: str) -> None:
        """Record a delivery as done, for good."""
        await self.redis.set(PREFIX + key, "sent:" + receipt, ex=SENT_TTL_S)

    async def release(self, key: str) -> None:
        """Give up our lease (the send failed and was not delivered)."""
        await self._release(keys=[PREFIX + key], args=[self.owner])

    async def any_sent(self, keys: Sequence[str]) -> bool:
        """Whether any of these deliveries was recorded as sent."""
        if not keys:
            return False
        values = await self.redis.mget([PREFIX + k for k in keys])
        return any(_text(v).startswith("sent") for v in values if v is not None)

    async def state(self, key: str) -> str | None:
        """The raw ledger value (for tests and `duban dlq`)."""
        value = await self.redis.get(PREFIX + key)
        return None if value is None else _text(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
