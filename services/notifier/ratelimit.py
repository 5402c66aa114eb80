"""Send-rate limits per channel, shared by every notifier replica through Redis.

A sliding-window log: one sorted set per channel and window, scored by send time in
milliseconds (Redis server time, so replicas' clocks never disagree). A Lua script
admits a send only when every window of the channel has room, and otherwise hands
back the windows' send times; how long to wait is then worked out by the pure
function :func:`wait_ms`. Each send's member is named by the caller (a token), so a send
that never reached the provider can give its slot back (:meth:`RateLimiter.release`).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.config.channels import ChannelsFile, rate_limits
from services.notifier.channels import DeliveryError
from services.store.keys import rate_window_key

# Waiters wake up a little apart, so replicas do not all ask Redis in the same instant.
SPREAD_S = 0.05
# A waiter looks again at least this often: a slot given back may have made room, or
# its caller may want to stop waiting (``check``).
MAX_NAP_S = 1.0

# KEYS: one sorted set per window. ARGV[1]: a unique member; then (window_ms, limit) pairs.
# Returns {1, now} when the send was admitted (and recorded in every window), else
# {0, now, {times of window 1}, {times of window 2}, ...}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local full = false
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 * i + 1]) then full = true end
end
if not full then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[1])
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
  return {1, now}
end
local answer = {0, now}
for i, key in ipairs(KEYS) do
  local pairs_ = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local times = {}
  for j = 2, #pairs_, 2 do times[#times + 1] = tonumber(pairs_[j]) end
  answer[#answer + 1] = times
end
return answer
"""

# KEYS: the channel's windows. ARGV[1]: the member a send took. Removed from every window.
_GIVE_BACK = """
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 0
"""


@dataclass(frozen=True)
class Window:
    """At most `limit` sends in any `window_ms` milliseconds."""

    window_ms: int
    limit: int


def wait_ms(sent_at_ms: Sequence[int], now_ms: int, window_ms: int, limit: int) -> int:
    """Milliseconds until one more send fits in the window; 0 when it fits now."""
    live = sorted(t for t in sent_at_ms if t > now_ms - window_ms)
    if len(live) < limit:
        return 0
    # Room opens when the oldest sends age out, leaving limit - 1 in the window.
    return live[len(live) - limit] + window_ms - now_ms


def wait_for_all(
    windows: Sequence[Window], sent_at_ms: Sequence[Sequence[int]], now_ms: int
) -> int:
    """Milliseconds until every window has room (the longest of their waits)."""
    pairs = zip(windows, sent_at_ms, strict=True)
    return max((wait_ms(times, now_ms, w.window_ms, w.limit) for w, times in pairs), default=0)


def windows_of(channels: ChannelsFile) -> dict[str, tuple[Window, ...]]:
    """Channel name → its windows (per minute, per second); channels without limits omitted."""
    found: dict[str, tuple[Window, ...]] = {}
    for name, entry in channels.channels.items():
        minute, second = rate_limits(entry)
        windows = [Window(60_000, minute)] if minute else []
        windows += [Window(1_000, second)] if second else []
        if windows:
            found[name] = tuple(windows)
    return found


class RateLimiter:
    """Takes send slots from the channels' shared windows, waiting for room when full."""

    def __init__(
        self,
        redis: Redis,
        windows: Mapping[str, tuple[Window, ...]],
        sleep: Callable[[float], Any] = asyncio.sleep,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self.windows = dict(windows)
        self.sleep = sleep
        self.unit_random = unit_random
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)

    async def acquire(
        self,
        channel: str,
        budget_s: float,
        token: str | None = None,
        check: Callable[[], object] | None = None,
    ) -> float:
        """Wait for a slot on `channel` for at most `budget_s`; returns the seconds waited.
        `token` names the slot (unique per send) for :meth:`release`; `check` is called
        after each wait and raises to stop waiting (e.g. the channel was found down).

        Raises a retryable DeliveryError when no slot opens within the budget."""
        windows = self.windows.get(channel)
        if not windows:
            return 0.0
        waited = 0.0
        while True:
            pause_ms = await self.try_take(channel, windows, token)
            if pause_ms == 0:
                return waited
            pause = pause_ms / 1000 + SPREAD_S * self.unit_random()
            if waited + pause > budget_s:
                raise DeliveryError(
                    f"send-rate limit ({_describe(windows)}) leaves no slot before the deadline",
                    retryable=True,
                    provider_code="rate_limit",
                    retry_after_s=pause,
                    channel=channel,
                )
            nap = min(pause, MAX_NAP_S)
            await self.sleep(nap)
            waited += nap
            if check is not None:
                check()

    async def try_take(
        self, channel: str, windows: Sequence[Window], token: str | None = None
    ) -> int:
        """Take a slot now (0) or say how many milliseconds until one may open."""
        args: list[Any] = [token or uuid.uuid4().hex]
        for w in windows:
            args += [w.window_ms, w.limit]
        answer = await self._take(keys=_keys(channel, windows), args=args)
        if int(answer[0]) == 1:
            return 0
        now = int(answer[1])
        times = [[int(t) for t in window] for window in answer[2:]]
        return max(1, wait_for_all(windows, times, now))

    async def release(self, channel: str, token: str) -> None:
        """Give back the slot `token` took: its send never reached the provider, so it
        must not count against the channel's limit (nor hold back the sends after it)."""
        windows = self.windows.get(channel)
        if windows:
            await self._give_back(keys=_keys(channel, windows), args=[token])


def _keys(channel: str, windows: Sequence[Window]) -> list[str]:
    """The channel's window keys (one hash slot per channel: the Lua scripts use them all)."""
    return [rate_window_key(channel, w.window_ms) for w in windows]


def _describe(windows: Sequence[Window]) -> str:
    per = {60_000: "minute", 1_000: "second"}
    return ", ".join(f"{w.limit}/{per.get(w.window_ms, f'{w.window_ms} ms')}" for w in windows)
