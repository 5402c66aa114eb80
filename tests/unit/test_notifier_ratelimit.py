"""The send-rate limit maths (pure) and the waiting loop around the shared Redis window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.config.channels import rate_limits
from services.config.load import load_config
from services.notifier.channels import DeliveryError
from services.notifier.ratelimit import (
    RateLimiter,
    Window,
    wait_for_all,
    wait_ms,
    windows_of,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
MINUTE = 60_000
WECOM = (Window(MINUTE, 20),)


def test_a_send_fits_while_the_window_has_room() -> None:
    assert wait_ms([], 1_000_000, MINUTE, 20) == 0
    assert wait_ms([1_000_000 - i for i in range(19)], 1_000_000, MINUTE, 20) == 0


def test_a_full_window_waits_until_its_oldest_send_ages_out() -> None:
    now = 1_000_000
    sent = [now - 50_000 + i * 1_000 for i in range(20)]  # 20 sends in the last 50 s
    assert wait_ms(sent, now, MINUTE, 20) == 10_000  # the oldest leaves the window in 10 s


def test_sends_older_than_the_window_do_not_count() -> None:
    now = 1_000_000
    sent = [now - MINUTE - 1, now - MINUTE] + [now - 5] * 19
    assert wait_ms(sent, now, MINUTE, 20) == 0  # exactly one window ago has aged out


def test_the_order_of_the_recorded_times_does_not_matter() -> None:
    now = 500_000
    sent = [now - 100, now - 900, now - 300, now - 700, now - 500]
    assert wait_ms(sent, now, 1_000, 5) == wait_ms(sorted(sent), now, 1_000, 5) == 100


def test_after_a_lowered_limit_enough_old_sends_must_age_out() -> None:
    now = 10_000
    sent = [now - 900, now - 800, now - 700, now - 600, now - 500]  # 5 in the window
    # limit now 2: one more send needs room, so four must leave; the fourth oldest
    # (now - 600) leaves in 400 ms
    assert wait_ms(sent, now, 1_000, 2) == 400


def test_the_longest_wait_of_all_windows_wins() -> None:
    now = 100_000
    minute, second = Window(MINUTE, 100), Window(1_000, 5)
    per_second = [now - 400, now - 300, now - 200, now - 100, now - 50]
    assert wait_for_all([minute, second], [per_second, per_second], now) == 600
    per_minute = [now - 59_000 + i for i in range(100)]
    assert wait_for_all([minute, second], [per_minute, per_second[:2]], now) == 1_000


def test_robots_get_their_platform_limits_unless_configured() -> None:
    channels = load_config(EXAMPLE).channels
    found = windows_of(channels)
    assert found["wecom"] == (Window(MINUTE, 20),)
    assert found["dingtalk"] == (Window(MINUTE, 20),)
    assert found["feishu"] == (Window(MINUTE, 100), Window(1_000, 5))
    assert "email" not in found and "aliyun_sms" not in found
    lowered = channels.channels["wecom"].model_copy(update={"rate_per_minute": 6})
    assert rate_limits(lowered) == (6, None)


class ScriptedWindow:
    """Stands in for the Redis script: answers from a list of (admitted, wait) steps."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def register_script(self, _: str) -> ScriptedWindow:
        return self

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        self.calls += 1
        assert keys == ["duban:rate:{wecom}:60000"] and args[1:] == [MINUTE, 20]
        return self.answers.pop(0)


def full_window(now: int, oldest: int) -> list[Any]:
    return [0, now, [oldest] + [now] * 19]


async def test_acquire_waits_for_room_then_takes_the_slot() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    redis = ScriptedWindow([full_window(100_000, 41_000), [1, 101_000]])
    limiter = RateLimiter(redis, {"wecom": WECOM}, sleep, lambda: 0.0)  # type: ignore[arg-type]
    waited = await limiter.acquire("wecom", budget_s=120)
    assert slept == [1.0] and waited == 1.0 and redis.calls == 2


async def test_acquire_gives_up_when_room_opens_only_after_the_budget() -> None:
    async def sleep(seconds: float) -> None:
        raise AssertionError("must not wait past the budget")

    redis = ScriptedWindow([full_window(100_000, 99_000)])  # room in 59 s
    limiter = RateLimiter(redis, {"wecom": WECOM}, sleep, lambda: 0.0)  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as caught:
        await limiter.acquire("wecom", budget_s=30)
    assert caught.value.retryable and caught.value.provider_code == "rate_limit"
    assert caught.value.retry_after_s == pytest.approx(59.0)
    assert "20/minute" in str(caught.value)


async def test_channels_without_limits_never_ask_redis() -> None:
    redis = ScriptedWindow([])
    limiter = RateLimiter(redis, {}, lambda _: None, lambda: 0.0)  # type: ignore[arg-type]
    assert await limiter.acquire("email", budget_s=0) == 0.0
    assert redis.calls == 0
