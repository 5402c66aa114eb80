"""Circuit breakers per channel: the state machine on a fake clock, and the deliverer
skipping a channel that is down."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.metrics import Metrics
from services.notifier.channels import DeliveryError
from services.notifier.circuit import CircuitBreaker, Pass
from services.notifier.render import TemplateSet
from services.notifier.retry import RetryPolicy
from tests.fakes import FakeClock
from tests.unit.test_notifier_deliver import (
    NOW,
    Harness,
    ScriptedChannel,
    deliverer,
    notice,
    permanent,
    server_error,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
COOLDOWN_S = 30.0


class Clock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def breaker(clock: Clock, metrics: Metrics | None = None) -> CircuitBreaker:
    return CircuitBreaker(
        ["wecom", "email"],
        failures_to_open=3,
        cooldown_s=COOLDOWN_S,
        monotonic=clock,
        metrics=metrics or Metrics(),
    )


def opened(clock: Clock) -> CircuitBreaker:
    b = breaker(clock)
    for _ in range(3):
        b.failed("wecom")
    return b


def test_the_circuit_opens_after_n_failures_in_a_row() -> None:
    b = breaker(Clock())
    b.failed("wecom")
    b.failed("wecom")
    assert b.state("wecom") == "closed" and b.admit("wecom") == Pass("wecom")
    b.failed("wecom")
    assert b.state("wecom") == "open" and b.admit("wecom") is None
    assert b.state("email") == "closed"  # per channel


def test_a_success_in_between_starts_the_count_again() -> None:
    b = breaker(Clock())
    for _ in range(5):
        b.failed("wecom")
        b.failed("wecom")
        b.succeeded("wecom")
    assert b.state("wecom") == "closed"


def test_it_stays_open_until_the_cooldown_then_admits_one_probe() -> None:
    clock = Clock()
    b = opened(clock)
    clock.now += COOLDOWN_S - 0.001
    b.failed("wecom")  # a send under way when it opened: the cooldown is not extended
    assert b.admit("wecom") is None
    clock.now += 0.001
    assert b.state("wecom") == "half_open"
    probe = b.admit("wecom")
    assert probe is not None and probe.probe > 0
    assert b.admit("wecom") is None  # exactly one probe
    assert b.is_open("wecom")


def test_a_probe_that_works_closes_the_circuit() -> None:
    clock = Clock()
    b = opened(clock)
    clock.now += COOLDOWN_S
    probe = b.admit("wecom")
    assert probe is not None
    b.succeeded("wecom")
    b.finish(probe)
    assert b.state("wecom") == "closed" and b.admit("wecom") == Pass("wecom")
    b.failed("wecom")
    b.failed("wecom")
    assert b.state("wecom") == "closed"  # counting starts from zero again


def test_a_probe_that_fails_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    b = opened(clock)
    clock.now += COOLDOWN_S
    probe = b.admit("wecom")
    assert probe is not None
    b.failed("wecom")
    b.finish(probe)
    assert b.state("wecom") == "open" and b.admit("wecom") is None
    clock.now += COOLDOWN_S - 0.001
    assert b.admit("wecom") is None
    clock.now += 0.001
    assert b.admit("wecom") is not None


def test_a_probe_that_sent_nothing_or_hangs_lets_another_probe() -> None:
    clock = Clock()
    b = opened(clock)
    clock.now += COOLDOWN_S
    first = b.admit("wecom")
    assert first is not None
    b.finish(first)  # e.g. the notice was found sent: no answer from the channel
    second = b.admit("wecom")
    assert second is not None and second != first
    clock.now += COOLDOWN_S  # the second probe never came back
    assert b.admit("wecom") is not None
    b.finish(second)  # too late to matter: the third probe holds on
    assert b.admit("wecom") is None


def test_the_state_is_exported_per_channel() -> None:
    clock, metrics = Clock(), Metrics()
    b = breaker(clock, metrics)
    text = metrics.render()
    assert 'duban_channel_circuit_open{channel="wecom"} 0' in text
    assert 'duban_channel_circuit_open{channel="email"} 0' in text
    assert 'duban_channel_circuit_opened_total{channel="wecom"} 0' in text
    for _ in range(3):
        b.failed("wecom")
    clock.now += COOLDOWN_S
    b.admit("wecom")
    b.failed("wecom")  # the probe failed: opened a second time
    text = metrics.render()
    assert 'duban_channel_circuit_open{channel="wecom"} 1' in text
    assert 'duban_channel_circuit_open{channel="email"} 0' in text
    assert 'duban_channel_circuit_opened_total{channel="wecom"} 2' in text
    b.succeeded("wecom")
    assert 'duban_channel_circuit_open{channel="wecom"} 0' in metrics.render()


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failures_to_open"):
        CircuitBreaker(failures_to_open=0)
    with pytest.raises(ValueError, match="cooldown_s"):
        CircuitBreaker(cooldown_s=0)


# -- the deliverer behind the breaker


def refused() -> DeliveryError:
    """What the HTTP adapters raise when the robot's endpoint refuses connections."""
    error = DeliveryError("connection failed (ConnectionRefusedError)", retryable=True)
    error.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return error


def down_robot(templates: TemplateSet, *channels: ScriptedChannel) -> Harness:
    d = deliverer(
        templates, *channels, retry=RetryPolicy(max_attempts=5, base_s=0.5, deadline_s=120.0)
    )
    d.deliverer.breaker = CircuitBreaker(
        [c.name for c in channels],
        failures_to_open=3,
        cooldown_s=COOLDOWN_S,
        monotonic=d.time.monotonic,
        metrics=Metrics(),
    )
    return d


async def test_after_n_connection_failures_the_channel_is_skipped_at_once(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[refused()] * 10)
    email = ScriptedChannel("email", "email")
    d = down_robot(templates, wecom, email)
    await d.deliver(notice("wecom", "email"))
    # The third failure opened the circuit: no sleeping through the backoff after it.
    assert d.events == [("failed", "wecom", 3, True, False), ("delivered", "email", 1)]
    assert len(wecom.sent) == 3 and d.time.sleeps == [0.25, 0.5]
    for _ in range(3):
        d.ledger.values.clear()  # the same notice anew, not a redelivery
        await d.deliver(notice("wecom", "email"))
    assert len(wecom.sent) == 3  # never tried again while open
    assert len(email.sent) == 4 and d.time.sleeps == [0.25, 0.5]
    assert d.events[2:4] == [("failed", "wecom", 1, True, False), ("delivered", "email", 1)]
    assert "H1:major-reminders:d3:0:R1:wecom" not in d.ledger.values  # nothing claimed


async def test_with_its_last_channel_open_the_notice_is_held_then_dead_lettered(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[refused()] * 3)
    d = down_robot(templates, wecom)
    assert await d.deliver(notice("wecom", "email"))  # the channel looks down: held
    retry_at = NOW + timedelta(seconds=30)
    assert d.events[:2] == [("failed", "wecom", 3, True, False), ("deferred", retry_at)]
    clock = d.deliverer.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=1))  # a day after it was due: no longer worth holding
    assert not await d.deliver(notice("wecom", "email"))
    assert d.events[2] == ("failed", "wecom", 1, True, True)
    kind, reason = d.events[3]
    assert kind == "dead_letter" and reason.startswith("wecom: [wecom] channel circuit open")
    assert "email: channel is off (not configured)" in reason and len(wecom.sent) == 3


async def test_after_the_cooldown_one_probe_goes_and_its_success_closes_the_circuit(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[server_error()] * 3)  # 5xx: down too
    email = ScriptedChannel("email", "email")
    d = down_robot(templates, wecom, email)
    await d.deliver(notice("wecom", "email"))
    d.time.now += COOLDOWN_S
    d.ledger.values.clear()
    await d.deliver(notice("wecom", "email"))
    assert d.events[-1] == ("delivered", "wecom", 1) and len(wecom.sent) == 4
    assert d.deliverer.circuit.state("wecom") == "closed"


async def test_a_probe_that_fails_skips_the_channel_for_another_cooldown(
    templates: TemplateSet,
) -> None:
    wecom = ScriptedChannel("wecom", script=[refused()] * 4)
    email = ScriptedChannel("email", "email")
    d = down_robot(templates, wecom, email)
    await d.deliver(notice("wecom", "email"))
    d.time.now += COOLDOWN_S
    d.ledger.values.clear()
    await d.deliver(notice("wecom", "email"))
    assert d.events[2:] == [("failed", "wecom", 1, True, False), ("delivered", "email", 1)]
    assert len(wecom.sent) == 4 and d.deliverer.circuit.state("wecom") == "open"


class SlotWaiter:
    """The robot's send-rate window is full: the caller waits (its `check` after each
    nap) until the robot's circuit opens, here after the second nap (other notices'
    failures). Other channels have room."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.naps = 0

    async def acquire(
        self, channel: str, budget_s: float, token: str | None = None, check: Any = None
    ) -> float:
        while channel == "wecom":
            self.naps += 1
            if self.naps == 2:
                for _ in range(3):
                    self.breaker.failed(channel)
            check()
        return 0.0

    async def release(self, channel: str, token: str) -> None:
        raise AssertionError("no slot was taken")


async def test_a_send_waiting_for_a_slot_stops_when_the_circuit_opens(
    templates: TemplateSet,
) -> None:
    wecom, email = ScriptedChannel("wecom"), ScriptedChannel("email", "email")
    b = breaker(Clock())
    limiter = SlotWaiter(b)
    d = deliverer(templates, wecom, email, limiter=limiter, breaker=b)
    await d.deliver(notice("wecom", "email"))
    assert limiter.naps == 2 and not wecom.sent and len(email.sent) == 1
    assert d.events == [("failed", "wecom", 1, True, False), ("delivered", "email", 1)]


async def test_permanent_errors_do_not_open_the_circuit(templates: TemplateSet) -> None:
    wecom = ScriptedChannel("wecom", script=[permanent()] * 6)
    email = ScriptedChannel("email", "email")
    d = down_robot(templates, wecom, email)
    for _ in range(6):
        d.ledger.values.clear()
        await d.deliver(notice("wecom", "email"))
    assert len(wecom.sent) == 6 and d.deliverer.circuit.state("wecom") == "closed"


async def test_a_deliverer_without_a_breaker_gets_its_own(templates: TemplateSet) -> None:
    wecom = ScriptedChannel("wecom", script=[refused()] * 5)
    d = deliverer(templates, wecom, ScriptedChannel("email", "email"))
    await d.deliver(notice("wecom", "email"))
    assert d.deliverer.circuit.state("wecom") == "open"  # defaults: 5 failures, 30 s
    d.time.now += 29.9
    assert d.deliverer.circuit.admit("wecom") is None
