"""The work-chat apps' shared access tokens (services.notifier.channels.apptoken), in memory."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.masking import SECRET_MASK, mask
from services.notifier.channels.apptoken import (
    AccessTokens,
    CachedToken,
    Issued,
    MemoryTokenStore,
    app_id,
    refresh_after,
)
from services.notifier.channels.base import DeliveryError
from tests.unit.channels._appsupport import START, Clock


class Platform:
    """A token endpoint: hands out numbered tokens, or fails when told to."""

    def __init__(self, lasts_s: float = 7200.0) -> None:
        self.lasts_s = lasts_s
        self.prefix = f"token-{uuid.uuid4().hex[:8]}-"  # masking is process-wide
        self.calls = 0
        self.fail: DeliveryError | None = None
        self.gate: asyncio.Event | None = None

    async def fetch(self) -> Issued:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return Issued(self.value(self.calls), self.lasts_s)

    def value(self, n: int) -> str:
        return f"{self.prefix}{n:04d}"


def tokens(store: MemoryTokenStore, platform: Platform, clock: Clock, **kw: Any) -> AccessTokens:
    return AccessTokens(
        store, "wecom_app:test", platform.fetch, channel="wecom_app", clock=clock, **kw
    )


def test_a_token_is_fetched_again_before_it_expires_or_halfway_when_short_lived() -> None:
    assert refresh_after(7200, 300) == 6900
    assert refresh_after(400, 300) == 200  # a short answer is not asked for on every send
    assert refresh_after(-5, 300) == 0


def test_two_apps_never_share_a_name_and_no_secret_is_in_it() -> None:
    one = app_id("wecom_app", "https://qyapi.weixin.qq.com", "ww1", "secret-one")
    other = app_id("wecom_app", "https://qyapi.weixin.qq.com", "ww1", "secret-two")
    assert one != other and one.startswith("wecom_app:") and "secret" not in one


async def test_the_stored_token_is_used_until_its_refresh_time() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    access = tokens(store, platform, clock)
    first = await access.current()
    clock.advance(6899)
    assert await access.current() == first and platform.calls == 1
    clock.advance(1)
    assert await access.current() == platform.value(2) and platform.calls == 2
    assert store.tokens["wecom_app:test"] == CachedToken(
        platform.value(2), START + 6900 + 7200, START + 6900 + 6900
    )


async def test_two_channels_sharing_a_store_fetch_once_even_at_the_same_moment() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    platform.gate = asyncio.Event()
    one, two = tokens(store, platform, clock), tokens(store, platform, clock)
    waiting = asyncio.gather(one.current(), two.current())
    await asyncio.sleep(0)  # both are in: one fetching, the other waiting for it
    platform.gate.set()
    assert await waiting == [platform.value(1), platform.value(1)]
    assert platform.calls == 1 and store.locks == {}


async def test_a_refused_token_is_replaced_once_and_a_newer_one_is_kept() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    one, two = tokens(store, platform, clock), tokens(store, platform, clock)
    old = await one.current()
    assert await one.renewed(old) == platform.value(2)
    # The other replica saw the old token refused too: the new one is kept, not refetched.
    assert await two.renewed(old) == platform.value(2) and platform.calls == 2


async def test_a_failed_fetch_keeps_a_token_that_is_still_valid() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    access = tokens(store, platform, clock)
    first = await access.current()
    clock.advance(7000)  # past the refresh time, 200 s before expiry
    platform.fail = DeliveryError("errcode 45009", retryable=True, provider_code="45009")
    assert await access.current() == first
    clock.advance(200)
    with pytest.raises(DeliveryError) as info:
        await access.current()
    assert info.value.provider_code == "45009" and platform.calls == 3


async def test_a_lock_left_by_a_crashed_replica_is_taken_after_its_ttl() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    assert await store.try_lock("wecom_app:test", "dead-replica", 15.0, clock())

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)  # time passes only while the replica waits

    access = tokens(store, platform, clock, lock_ttl_s=15.0, sleep=sleep)
    assert await access.current() == platform.value(1)
    assert clock.now - START >= 15.0 and store.locks == {}


async def test_waiting_too_long_for_another_replica_is_a_retryable_failure() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    await store.try_lock("wecom_app:test", "slow-replica", 3600.0, clock())

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    access = tokens(store, platform, clock, lock_ttl_s=1.0, sleep=sleep)
    with pytest.raises(DeliveryError) as info:
        await access.current()
    assert info.value.retryable and "another replica" in info.value.reason
    assert platform.calls == 0


async def test_tokens_are_masked_and_old_ones_forgotten() -> None:
    store, platform, clock = MemoryTokenStore(), Platform(), Clock()
    access = tokens(store, platform, clock)
    seen = []
    for _ in range(4):
        seen.append(await access.current())
        clock.advance(7200)
    assert mask(f"sent with {seen[-1]}") == f"sent with {SECRET_MASK}"
    assert mask(seen[1]) == SECRET_MASK
    assert mask(seen[0]) == seen[0]  # three generations kept: the oldest is dead anyway
