"""Circuit breakers per channel: a channel that is down is skipped fast.

After ``failures_to_open`` sends in a row failed in a way that says the channel itself is
down (connection failures, timeouts, 5xx and other retryable errors; never a permanent,
per-recipient error), the channel's circuit opens for ``cooldown_s``: deliveries treat the
channel as failed at once and go on to the next one. After the cooldown one delivery may
probe the channel (half-open): a send that works closes the circuit, one that fails opens
it for another cooldown.

One breaker per notifier process, in memory: each replica learns on its own that a
channel is down, within ``failures_to_open`` sends. Pure apart from the injected
monotonic clock and the notifier's metrics registry it reports to. The failure of a
skipped channel and the reason class of every failed delivery (bounded label values for
the metrics) are named here too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from services.metrics import Metrics, NotifierMetrics
from services.notifier.channels import DeliveryError
from services.notifier.channels.base import never_reached_provider

log = logging.getLogger("duban.notifier")

State = Literal["closed", "open", "half_open"]
CIRCUIT_OPEN = "channel circuit open"
RATE_LIMIT_CODE = "rate_limit"  # services.notifier.ratelimit's provider_code


def circuit_open(channel: str) -> DeliveryError:
    """The failure of a channel skipped because its circuit is open."""
    return DeliveryError(CIRCUIT_OPEN, retryable=True, channel=channel)


def failure_reason(error: DeliveryError) -> str:
    """The reason class of a failed delivery, for metrics: one of a bounded set
    (services.metrics.FAILURE_REASONS), never the provider's free text."""
    if error.reason == CIRCUIT_OPEN:
        return "circuit_open"
    if error.provider_code == RATE_LIMIT_CODE:
        return "rate_limited"
    if not error.retryable:
        return "permanent"
    return "unreachable" if never_reached_provider(error) else "retries_exhausted"


@dataclass
class _Circuit:
    failures: int = 0
    """Channel-down failures in a row while closed."""
    opened_at: float | None = None
    """When the circuit last opened (monotonic seconds); None while closed."""
    probe: int = 0
    """The number of the probe in flight while half-open; 0: none."""
    probe_at: float = 0.0


@dataclass(frozen=True)
class Pass:
    """Leave to try a channel; ``probe`` > 0 for the one probe of a half-open circuit."""

    channel: str
    probe: int = 0


class CircuitBreaker:
    """Open, half-open and closed circuits of the channels, told how each send went."""

    def __init__(
        self,
        channels: Iterable[str] = (),
        *,
        failures_to_open: int = 5,
        cooldown_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        if failures_to_open < 1 or cooldown_s <= 0:
            raise ValueError("a circuit breaker needs failures_to_open >= 1 and cooldown_s > 0")
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self.monotonic = monotonic
        self.metrics = NotifierMetrics(metrics)  # a registry of its own unless given
        self._circuits: dict[str, _Circuit] = {}
        self._probes = 0
        for channel in channels:
            self._register(channel)

    def state(self, channel: str) -> State:
        """Closed (sends go), open (skipped until the cooldown ends) or half-open."""
        opened_at = self._circuit(channel).opened_at
        if opened_at is None:
            return "closed"
        return "open" if self.monotonic() - opened_at < self.cooldown_s else "half_open"

    def is_open(self, channel: str) -> bool:
        """Whether the channel is known to be down (open or half-open)."""
        return self._circuit(channel).opened_at is not None

    def cooling_down(self, channel: str) -> bool:
        """Whether the circuit is open and its cooldown not over: sends under way on the
        channel stop retrying or waiting for a send slot."""
        return self.state(channel) == "open"

    def admit(self, channel: str) -> Pass | None:
        """Leave to try `channel` now, or None while it is open (or its probe is out).

        A probe that gave no answer within a cooldown no longer holds the others back."""
        state, circuit = self.state(channel), self._circuit(channel)
        if state == "closed":
            return Pass(channel)
        now = self.monotonic()
        if state == "open" or (circuit.probe and now - circuit.probe_at < self.cooldown_s):
            return None
        self._probes += 1
        circuit.probe, circuit.probe_at = self._probes, now
        return Pass(channel, self._probes)

    def finish(self, admitted: Pass) -> None:
        """The delivery that `admitted` let through is over: a probe that sent nothing
        (the notice was sent before, or failed before sending) lets the next one probe."""
        circuit = self._circuit(admitted.channel)
        if admitted.probe and circuit.probe == admitted.probe:
            circuit.probe = 0

    def succeeded(self, channel: str) -> None:
        """A send on `channel` worked: the channel is up, its circuit closes."""
        circuit = self._circuit(channel)
        if circuit.opened_at is not None:
            log.info("channel %s works again: circuit closed", channel)
        circuit.failures, circuit.opened_at, circuit.probe = 0, None, 0

    def failed(self, channel: str) -> None:
        """A send on `channel` failed in a way that says the channel is down."""
        circuit, state = self._circuit(channel), self.state(channel)
        if state == "open":
            return  # sends that were under way when it opened tell nothing new
        circuit.failures += 1
        if state == "half_open" or circuit.failures >= self.failures_to_open:
            self._open(channel, circuit)

    def _open(self, channel: str, circuit: _Circuit) -> None:
        log.warning(
            "channel %s looks down after %d failed send(s) in a row: skipped for %g s",
            channel,
            circuit.failures,
            self.cooldown_s,
        )
        circuit.opened_at, circuit.probe = self.monotonic(), 0
        self.metrics.circuit_opened.labels(channel).inc()

    def _circuit(self, channel: str) -> _Circuit:
        circuit = self._circuits.get(channel)
        return circuit if circuit is not None else self._register(channel)

    def _register(self, channel: str) -> _Circuit:
        circuit = self._circuits[channel] = _Circuit()
        self.metrics.circuit_open.labels(channel).set_function(lambda: float(self.is_open(channel)))
        self.metrics.circuit_opened.labels(channel)  # exported at 0 from the start
        return circuit
