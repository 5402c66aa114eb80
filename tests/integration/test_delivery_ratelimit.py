"""Send-rate limits shared by notifier replicas through Redis: counts within any window stay
at the limit, whichever replica sends (measured at the provider's fake, not by speed)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from services.config.load import load_config
from services.notifier.app import create_notifier
from services.notifier.channels import Channel, OutboundMessage, SendResult
from services.notifier.ratelimit import RateLimiter, Window
from services.notifier.setup import build_channels
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import wait_for
from tests.integration.deliverykit import (
    config_with,
    group_state,
    notice,
    notice_publisher,
    use_wecom,
)
from tests.providers import FakeWeCom

PER_SECOND = 4
NOTICES = 24
# Sends admitted 1 s apart reach the fake a little less than 1 s apart when the first one's
# request took longer on the wire: count within a slightly shorter window.
WIRE_SLACK_S = 0.15


class TimedWeCom(FakeWeCom):
    """A WeCom fake that notes when (monotonic seconds) it accepted each message."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.accepted_at: list[float] = []

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        self.accepted_at.append(time.monotonic())
        return super().success(record)


class Counting:
    """Counts what one replica's channel sent."""

    def __init__(self, inner: Channel) -> None:
        self.inner, self.name, self.family = inner, inner.name, inner.family
        self.sent = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        result = await self.inner.send(message)
        self.sent += 1
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


def most_in_any_window(times: list[float], window_s: float) -> int:
    """The largest number of `times` inside any half-open window of `window_s`."""
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[i:] if t < start + window_s) for i, start in enumerate(ordered)),
        default=0,
    )


async def test_two_limiters_share_one_window(redis: Redis, settings: Settings) -> None:
    windows = {"feishu": (Window(60_000, 100), Window(1_000, 5))}
    other = Redis.from_url(settings.redis_url)
    first, second = RateLimiter(redis, windows), RateLimiter(other, windows)
    try:
        taken = [await first.try_take("feishu", windows["feishu"]) for _ in range(3)]
        taken += [await second.try_take("feishu", windows["feishu"]) for _ in range(2)]
        refused = await second.try_take("feishu", windows["feishu"])
        assert await first.try_take("feishu", windows["feishu"]) > 0
    finally:
        await other.aclose()
    assert taken == [0] * 5 and 0 < refused <= 1_000
    assert await redis.zcard("duban:rate:{feishu}:1000") == 5
    assert await redis.zcard("duban:rate:{feishu}:60000") == 5
    assert 0 < await redis.pttl("duban:rate:{feishu}:1000") <= 1_000


async def test_two_notifier_replicas_keep_to_one_shared_rate(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def slow_robot(channels: dict[str, Any]) -> None:
        channels["channels"]["wecom"].update(rate_per_minute=600, rate_per_second=PER_SECOND)

    settings = settings.model_copy(update={"config_dir": config_with(tmp_path, slow_robot)})
    async with TimedWeCom() as fake:
        use_wecom(monkeypatch, fake)
        config = load_config(settings.config_dir)
        replicas = [Counting(build_channels(config, os.environ)["wecom"]) for _ in range(2)]
        apps = [
            create_notifier(settings, config, clock=clock, channels={"wecom": c}).app
            for c in replicas
        ]
        async with running(apps[0]), running(apps[1]), notice_publisher(settings) as send:
            await wait_for(
                lambda: group_state(settings.kafka_bootstrap, settings.notifier_group, 2),
                what="both replicas in the consumer group",
            )
            for n in range(NOTICES):
                await send(notice(n, "wecom", kind="report"))
            await wait_for(lambda: len(fake.accepted) >= NOTICES, what="every message")
    assert fake.rejections == [] and len(fake.accepted) == NOTICES
    assert all(r.sent > 0 for r in replicas), [r.sent for r in replicas]
    assert most_in_any_window(fake.accepted_at, 1.0 - WIRE_SLACK_S) <= PER_SECOND
