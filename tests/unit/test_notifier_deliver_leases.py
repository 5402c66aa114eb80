"""Delivering one notice: the shared send-rate limit and the delivery lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from services.notifier.channels import DeliveryError, OutboundMessage, SendResult
from services.notifier.render import TemplateSet
from tests.unit.test_notifier_deliver import (
    NOW,
    ScriptedChannel,
    deliverer,
    notice,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


class Limiter:
    """A send-rate limit that has no room for `full_for_s` seconds."""

    def __init__(self, full_for_s: float) -> None:
        self.full_for_s = full_for_s
        self.budgets: list[float] = []

    async def acquire(self, channel: str, budget_s: float) -> float:
        self.budgets.append(budget_s)
        if self.full_for_s > budget_s:
            raise DeliveryError("rate", retryable=True, retry_after_s=self.full_for_s)
        return self.full_for_s


async def test_the_rate_limit_wait_is_bounded_by_the_retry_deadline(
    templates: TemplateSet,
) -> None:
    wecom, email = ScriptedChannel("wecom"), ScriptedChannel("email", "email")
    limiter = Limiter(full_for_s=600)
    d = deliverer(templates, wecom, email, limiter=limiter)
    await d.deliver(notice("wecom", "email"))
    assert limiter.budgets == [120.0, 120.0]  # one per channel, each with the whole deadline
    # Both channels full for longer than the deadline: the notice is held until the
    # limit has room (the limiter's retry_after), not given up.
    assert d.events == [
        ("failed", "wecom", 1, True, False),
        ("failed", "email", 1, True, False),
        ("deferred", NOW + timedelta(seconds=600)),
    ]
    assert not wecom.sent


async def test_within_the_budget_the_rate_limit_only_delays(templates: TemplateSet) -> None:
    wecom = ScriptedChannel("wecom")
    d = deliverer(templates, wecom, limiter=Limiter(full_for_s=30))
    await d.deliver(notice("wecom"))
    assert d.events == [("delivered", "wecom", 1)] and len(wecom.sent) == 1


async def test_a_send_cancelled_mid_flight_frees_its_delivery(templates: TemplateSet) -> None:
    started = asyncio.Event()

    class Hanging(ScriptedChannel):
        async def send(self, message: OutboundMessage) -> SendResult:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    d = deliverer(templates, Hanging("wecom"))
    task = asyncio.create_task(d.deliver(notice("wecom")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert d.ledger.values == {}
    assert d.events == []  # nothing claimed as delivered or failed
