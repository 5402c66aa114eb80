"""A channel that is down is skipped fast: real adapters, the real Redis rate limit.

A WeCom robot whose endpoint refuses connections (a closed local port) under a tight
shared limit (2 sends a minute), and email on a real SMTP server behind it. The failed
connections give their slots back (the third attempt would otherwise wait a minute for
one), and once the robot's circuit opens the notices go by email at once.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from services.metrics import Metrics
from services.notifier.channels import Channel, OutboundMessage, SendResult, build_channel
from services.notifier.channels.email import EmailSettings
from services.notifier.channels.wecom import WeComSettings
from services.notifier.circuit import CircuitBreaker
from services.notifier.deliver import Deliverer
from services.notifier.ledger import DeliveryLedger, Sent
from services.notifier.ratelimit import MAX_NAP_S, RateLimiter, Window
from services.notifier.render import TemplateSet
from services.notifier.retry import RetryPolicy
from tests.fakes import FakeClock, FakeTime
from tests.integration.conftest import EXAMPLE
from tests.integration.deliverykit import notice
from tests.providers import FakeSmtpServer

WINDOW_KEY = "duban:rate:{wecom}:60000"
FAILURES_TO_OPEN = 5
COOLDOWN_S = 30.0
RETRY = RetryPolicy(max_attempts=3, base_s=0.5, cap_s=30.0, deadline_s=120.0)


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def no_waiting_for_slots(seconds: float) -> None:
    raise AssertionError(f"waited {seconds:g} s for a send-rate slot")


class Naps:
    """The rate limiter's waits, noted and not waited (only a turn of the event loop)."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        await asyncio.sleep(0)


class Counting:
    """Counts the sends that reached a channel's adapter."""

    def __init__(self, inner: Channel) -> None:
        self.inner, self.name, self.family = inner, inner.name, inner.family
        self.calls = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        return await self.inner.send(message)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Recorded:
    """Delivery outcomes: (kind, channel, attempts, reason)."""

    events: list[tuple[str, str, int, str]] = field(default_factory=list)

    async def delivered(self, notice: Any, channel: str, sent: Sent) -> None:
        self.events.append(("delivered", channel, sent.attempts, ""))

    async def failed(
        self, notice: Any, channel: str, attempts: int, error: Any, final: bool
    ) -> None:
        self.events.append(("failed", channel, attempts, str(error)))

    async def deferred(self, notice: Any, until: Any) -> None:
        raise AssertionError("nothing is in quiet hours")

    async def dead_letter(self, notice: Any, reason: str) -> None:
        self.events.append(("dead_letter", "", 0, reason))


@dataclass
class Rig:
    deliverer: Deliverer
    robot: Counting
    outcomes: Recorded
    time: FakeTime
    breaker: CircuitBreaker
    metrics: Metrics

    async def deliver(self, *numbers: int) -> None:
        for n in numbers:
            await self.deliverer.deliver(notice(n, "wecom", "email"))

    def failures(self) -> list[tuple[int, str]]:
        return [
            (attempts, why) for kind, _, attempts, why in self.outcomes.events if kind == "failed"
        ]


@asynccontextmanager
async def robot_down(
    redis: Redis,
    smtp: FakeSmtpServer,
    clock: FakeClock,
    slot_wait: Callable[[float], Awaitable[None]] = no_waiting_for_slots,
) -> AsyncIterator[Rig]:
    """A deliverer with the robot down (2 sends a minute), email working behind it; no
    jitter, so retries wait nothing and the cooldown passes only when the test says."""
    url = f"http://127.0.0.1:{closed_port()}/cgi-bin/webhook/send?key=k"
    robot = Counting(build_channel("wecom", WeComSettings(webhook_url=url)))
    email = build_channel(
        "email",
        EmailSettings("127.0.0.1", "duban@test.example", port=smtp.port, security="none"),
    )
    time, metrics, ledger = FakeTime(), Metrics(), DeliveryLedger(redis, "circuit-test")
    breaker = CircuitBreaker(
        ["wecom", "email"],
        failures_to_open=FAILURES_TO_OPEN,
        cooldown_s=COOLDOWN_S,
        monotonic=time.monotonic,
        metrics=metrics,
    )
    outcomes = Recorded()
    deliverer = Deliverer(
        channels={"wecom": robot, "email": email},
        templates=TemplateSet.load(EXAMPLE / "templates"),
        ledger=ledger,
        outcomes=outcomes,
        clock=clock,
        retry=RETRY,
        sms_templates={},
        ack_url=lambda _: None,
        limiter=RateLimiter(redis, {"wecom": (Window(60_000, 2),)}, slot_wait),
        sleep=time.sleep,
        unit_random=lambda: 0.0,
        monotonic=time.monotonic,
        breaker=breaker,
    )
    try:
        yield Rig(deliverer, robot, outcomes, time, breaker, metrics)
    finally:
        await ledger.aclose()
        await robot.aclose()
        await email.aclose()


async def test_refused_connections_keep_no_slots_and_the_open_circuit_sends_by_email(
    redis: Redis, smtp: FakeSmtpServer, clock: FakeClock
) -> None:
    async with robot_down(redis, smtp, clock) as rig:
        await rig.deliver(*range(6))
    assert await redis.zcard(WINDOW_KEY) == 0  # five refused sends, no slot kept
    # 3 attempts, then 2 more open the circuit (no retry after that), then skipped at once.
    assert rig.robot.calls == FAILURES_TO_OPEN
    assert [attempts for attempts, _ in rig.failures()] == [3, 2, 1, 1, 1, 1]
    assert all("connection failed" in why for _, why in rig.failures()[:2])
    assert all(why == "[wecom] channel circuit open retryable" for _, why in rig.failures()[2:])
    assert len(rig.time.sleeps) == 3  # retries only while the robot was still tried
    delivered = [e for e in rig.outcomes.events if e[0] == "delivered"]
    assert [(kind, channel) for kind, channel, *_ in delivered] == [("delivered", "email")] * 6
    assert len(smtp.messages) == 6
    text = rig.metrics.render()
    assert 'duban_channel_circuit_open{channel="wecom"} 1' in text
    assert 'duban_channel_circuit_opened_total{channel="wecom"} 1' in text
    assert 'duban_channel_circuit_open{channel="email"} 0' in text


async def test_after_the_cooldown_one_probe_tries_the_robot_again(
    redis: Redis, smtp: FakeSmtpServer, clock: FakeClock
) -> None:
    async with robot_down(redis, smtp, clock) as rig:
        await rig.deliver(0, 1)  # 3 + 2 refused: open
        rig.time.now += COOLDOWN_S
        await rig.deliver(2, 3)  # the probe is refused too: open for another cooldown
    assert rig.robot.calls == FAILURES_TO_OPEN + 1
    assert [attempts for attempts, _ in rig.failures()] == [3, 2, 1, 1]
    assert "connection failed" in rig.failures()[2][1]
    assert rig.failures()[3][1] == "[wecom] channel circuit open retryable"
    assert rig.breaker.state("wecom") == "open" and len(smtp.messages) == 4
    assert await redis.zcard(WINDOW_KEY) == 0
    assert 'duban_channel_circuit_opened_total{channel="wecom"} 2' in rig.metrics.render()


async def test_notices_waiting_for_a_slot_stop_waiting_once_the_circuit_opens(
    redis: Redis, smtp: FakeSmtpServer, clock: FakeClock
) -> None:
    naps = Naps()
    async with robot_down(redis, smtp, clock, naps) as rig:
        # All at once, as the notices of one batch: at most 2 hold a slot, the rest wait.
        await asyncio.gather(*(rig.deliver(n) for n in range(12)))
    # Some waited for a slot, looking again every second at most (not after the window's
    # minute): a slot given back let them send, the open circuit ended their wait.
    assert naps.taken and max(naps.taken) <= MAX_NAP_S
    assert FAILURES_TO_OPEN <= rig.robot.calls <= FAILURES_TO_OPEN + 1  # one more in flight
    assert len(smtp.messages) == 12 and await redis.zcard(WINDOW_KEY) == 0
    assert any(why == "[wecom] channel circuit open retryable" for _, why in rig.failures())
