"""The send-rate limit maths (pure), the waiting loop around the shared Redis window, and
giving back the slot of a send that never reached the provider."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from services.config.channels import rate_limits
from services.config.load import load_config
from services.notifier.channels import DeliveryError, build_channel, settings_class
from services.notifier.channels.base import never_reached_provider
from services.notifier.ratelimit import (
    MAX_NAP_S,
    RateLimiter,
    Window,
    wait_for_all,
    wait_ms,
    windows_of,
)
from services.notifier.render import TemplateSet
from tests.providers import sample_message
from tests.unit.test_notifier_circuit import refused
from tests.unit.test_notifier_deliver import ScriptedChannel, deliverer, notice

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


async def test_a_long_wait_looks_again_every_second_and_may_be_stopped() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def check() -> None:
        if len(slept) == 3:
            raise DeliveryError("channel circuit open", retryable=True)

    redis = ScriptedWindow([full_window(100_000, 50_000 + i) for i in range(3)])  # 10 s
    limiter = RateLimiter(redis, {"wecom": WECOM}, sleep, lambda: 0.0)  # type: ignore[arg-type]
    with pytest.raises(DeliveryError, match="circuit open"):
        await limiter.acquire("wecom", budget_s=120, token="t", check=check)
    assert slept == [MAX_NAP_S] * 3 and redis.calls == 3


async def test_channels_without_limits_never_ask_redis() -> None:
    redis = ScriptedWindow([])
    limiter = RateLimiter(redis, {}, lambda _: None, lambda: 0.0)  # type: ignore[arg-type]
    assert await limiter.acquire("email", budget_s=0) == 0.0
    assert redis.calls == 0


# -- giving back the slot of a send that never reached the provider


class RecordingScripts:
    """Stands in for Redis: records each script call (take / give back), always admits."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], list[Any]]] = []

    def register_script(self, source: str) -> Any:
        name = "take" if "ZADD" in source else "give back"

        async def run(keys: list[str], args: list[Any]) -> Any:
            self.calls.append((name, keys, args))
            return [1, 0]

        return run


async def test_a_slot_named_by_its_token_is_removed_from_every_window() -> None:
    redis = RecordingScripts()
    windows = {"feishu": (Window(MINUTE, 100), Window(1_000, 5))}
    limiter = RateLimiter(redis, windows, sleep_never, lambda: 0.0)  # type: ignore[arg-type]
    await limiter.acquire("feishu", budget_s=10, token="send-1")
    await limiter.release("feishu", "send-1")
    await limiter.release("email", "send-2")  # no limits: nothing to give back
    keys = ["duban:rate:{feishu}:60000", "duban:rate:{feishu}:1000"]
    assert redis.calls == [
        ("take", keys, ["send-1", MINUTE, 100, 1_000, 5]),
        ("give back", keys, ["send-1"]),
    ]


async def sleep_never(seconds: float) -> None:
    raise AssertionError("must not wait")


class LendingLimiter:
    """A limiter that always has room and records the slots taken and given back."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str | None]] = []
        self.released: list[tuple[str, str]] = []

    async def acquire(
        self, channel: str, budget_s: float, token: str | None = None, check: Any = None
    ) -> float:
        self.taken.append((channel, token))
        return 0.0

    async def release(self, channel: str, token: str) -> None:
        self.released.append((channel, token))


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


async def test_a_connection_failure_gives_its_slot_back(templates: TemplateSet) -> None:
    limiter = LendingLimiter()
    wecom = ScriptedChannel("wecom", script=[refused()])
    d = deliverer(templates, wecom, limiter=limiter)
    await d.deliver(notice("wecom"))
    assert d.events == [("delivered", "wecom", 2)]
    [(_, first), (_, second)] = limiter.taken
    assert first and second and first != second  # one slot per attempt
    assert limiter.released == [("wecom", first)]  # the second send went out


@pytest.mark.parametrize(
    "failure",
    [
        DeliveryError("HTTP 503", retryable=True, provider_code="HTTP 503"),
        DeliveryError("timed out after 10s (TimeoutError)", retryable=True),
        DeliveryError("sign not match", retryable=False, provider_code="310000"),
    ],
)
async def test_a_send_that_may_have_reached_the_provider_keeps_its_slot(
    templates: TemplateSet, failure: DeliveryError
) -> None:
    limiter = LendingLimiter()
    d = deliverer(templates, ScriptedChannel("wecom", script=[failure]), limiter=limiter)
    await d.deliver(notice("wecom"))
    assert len(limiter.taken) >= 1 and limiter.released == []


@pytest.mark.parametrize(
    ("cause", "said", "unsent"),
    [
        (ConnectionRefusedError(111, "Connection refused"), None, True),
        # a bare OSError is read as a failed connect
        (ConnectionResetError(104, "reset while connecting"), None, True),
        (socket.gaierror(-2, "Name or service not known"), None, True),
        (ssl.SSLError("handshake failed"), None, True),
        (aiohttp.ConnectionTimeoutError("connect timeout"), None, True),
        (aiosmtplib.SMTPConnectError("Error connecting"), None, True),
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), None, True),
        (TimeoutError(), None, False),  # may have come after the request was written
        (aiohttp.ServerDisconnectedError(), None, False),
        (aiohttp.ClientOSError(104, "reset while sending"), None, False),
        (aiosmtplib.SMTPServerDisconnected("gone"), None, False),
        (None, None, False),
        (None, False, True),  # what the adapter says wins
        (ConnectionRefusedError(), True, False),
    ],
)
def test_which_failures_never_reached_the_provider(
    cause: BaseException | None, said: bool | None, unsent: bool
) -> None:
    error = DeliveryError("failed", retryable=True, reached_provider=said)
    error.__cause__ = cause
    assert never_reached_provider(error) is unsent


async def test_the_adapters_connection_refusals_are_recognised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]  # closed again: connections are refused
    url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k"
    robot = build_channel("wecom", settings_class("wecom")(webhook_url=url))
    mail = build_channel(
        "email",
        settings_class("email")(host="127.0.0.1", port=port, security="none", from_addr="d@x.cn"),
    )
    for channel in (robot, mail):
        try:
            with pytest.raises(DeliveryError) as caught:
                await channel.send(sample_message(to_email="r1@unit.example"))
        finally:
            await channel.aclose()
        assert caught.value.retryable and never_reached_provider(caught.value), caught.value


async def test_a_hang_up_after_the_request_keeps_the_slot() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request arrived
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    robot = build_channel("wecom", settings_class("wecom")(webhook_url=f"http://127.0.0.1:{port}/"))
    try:
        with pytest.raises(DeliveryError) as caught:
            await robot.send(sample_message())
    finally:
        await robot.aclose()
        server.close()
        await server.wait_closed()
    assert caught.value.retryable and not never_reached_provider(caught.value)
