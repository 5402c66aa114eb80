"""Delivering one notice.requested: render, then try each planned channel in order.

Stages per channel, one signature each (after Alertmanager's notify pipeline): skip a
channel that is off, defer out of quiet hours, fail at once on a channel whose circuit
is open (it looks down), claim the delivery key, wait for the channel's shared send-rate
limit, send with retries, record "sent" only after the provider accepted, and emit a
receipt for every outcome. A permanent failure or exhausted retries (attempts or
deadline) fall back to the next channel; when none is left the notice goes to the
notices dead-letter topic with every channel's reason. A send that never reached the
provider gives its rate-limit slot back. Each outcome is counted per channel on the
notifier's metrics (sent, failed by reason class, retried, deferred, send latency).

A delivery whose earlier send began and never ended (its replica died or froze mid-send:
the ledger's claim answers "doubt") is sent again at once on a channel whose provider
drops a repeat of our delivery key (``dedupes_by_key``: the webhook, Feishu's uuid).
Elsewhere (email, robots, SMS) the person may get it twice: the delivery is counted
in doubt (metric and a non-final notice.failed receipt) and sent once more, for a lost
notice is worse than a repeated one; if that resend is cut off too ("doubt_again") it
is given up in doubt for good (a final receipt), never sent a third time. A receipt is
published once per delivery: the ledger notes when it is out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from contracts.notice import NoticeRequested
from services.clock import Clock
from services.masking import redact
from services.metrics import Metrics, NotifierMetrics
from services.notifier.channels import Channel, DeliveryError, OutboundMessage, SendResult
from services.notifier.channels.base import never_reached_provider
from services.notifier.circuit import CircuitBreaker, circuit_open, failure_reason
from services.notifier.followup import FollowUp
from services.notifier.ledger import LEASE_S, Claim, Found, Sent
from services.notifier.messages import build_message, render_for
from services.notifier.render import Rendered, TemplateSet
from services.notifier.retry import RetryPolicy

log = logging.getLogger("duban.notifier")
BUSY_POLL_S = 0.2


class Outcomes(Protocol):
    """Where delivery outcomes go: receipts, deferrals, dead letters."""

    async def delivered(self, notice: NoticeRequested, channel: str, sent: Sent) -> None:
        """A channel accepted the message (published again, identical, after a crash
        between the send and its receipt)."""

    async def failed(
        self,
        notice: NoticeRequested,
        channel: str,
        attempts: int,
        error: DeliveryError,
        final: bool,
    ) -> None:
        """A channel failed for good (retries spent or permanent)."""

    async def failed_after_acceptance(
        self, notice: NoticeRequested, channel: str, attempts: int, reason: str, final: bool
    ) -> None:
        """A channel had accepted the message, and its delivery report says it did not
        reach the person, or no report came in time."""

    async def deferred(self, notice: NoticeRequested, until: datetime) -> None:
        """Hold the notice until `until` (quiet hours), then deliver it again."""

    async def dead_letter(self, notice: NoticeRequested, reason: str) -> None:
        """No channel could deliver the notice."""


class Ledger(Protocol):
    """Who sent what (services.notifier.ledger.DeliveryLedger)."""

    async def claim(self, key: str, others: Sequence[str] = ()) -> Claim | Found:
        """Own a delivery (its lease renewed while owned), or learn it is busy, or that it
        or one of ``others`` was sent (that key and its record)."""

    async def mark_sent(self, key: str, sent: Sent) -> None:
        """Record a delivery as done."""

    async def release(self, key: str) -> None:
        """Give up a delivery that was not sent."""


class SlotTaker(Protocol):
    """Shared send-rate limits (services.notifier.ratelimit.RateLimiter)."""

    async def acquire(self, channel: str, budget_s: float) -> float:
        """Wait for a send slot on `channel`, at most `budget_s`; DeliveryError if none."""


@runtime_checkable
class SlotLender(Protocol):
    """Send-rate limits that take each slot's name from the caller and can give it back
    (services.notifier.ratelimit.RateLimiter)."""

    async def acquire(
        self,
        channel: str,
        budget_s: float,
        token: str | None = None,
        check: Callable[[], object] | None = None,
    ) -> float:
        """Wait for a send slot named `token` on `channel`, at most `budget_s`, calling
        `check` after each wait (it raises to stop waiting)."""

    async def release(self, channel: str, token: str) -> None:
        """Give back the slot `token` took."""


@runtime_checkable
class SendingLedger(Protocol):
    """A ledger that notes when a send begins, so that a send cut off midway is known to
    be in doubt (services.notifier.ledger.DeliveryLedger)."""

    async def sending(self, key: str, again: bool = False) -> bool:
        """Note the provider call begins (``again``: a resend of a delivery in doubt);
        False if our lease was lost meanwhile."""

    async def mark_doubt(self, key: str, attempts: int, at: datetime) -> None:
        """Record the delivery in doubt, for good."""

    def abandon(self, key: str) -> None:
        """Stop renewing the lease of a send cut off midway: it expires, in doubt."""


@runtime_checkable
class DoubtOutcomes(Protocol):
    """Outcomes that can report a delivery in doubt (services.notifier.outcomes)."""

    async def in_doubt(self, notice: NoticeRequested, channel: str, final: bool) -> None:
        """An earlier send may or may not have reached the person: it is sent once more
        (``final`` False), or given up (True)."""


class LeaseLost(Exception):
    """Our lease on a delivery expired before its send began (a freeze): another replica
    may be sending it, so this one does not."""


def resend_is_harmless(channel: Channel) -> bool:
    """Whether the channel's provider drops a repeated send of the same delivery key."""
    return bool(getattr(channel, "dedupes_by_key", False))


@dataclass
class Deliverer:
    """Delivers notices through the configured channels."""

    channels: Mapping[str, Channel]
    templates: TemplateSet
    ledger: Ledger
    outcomes: Outcomes
    clock: Clock
    retry: RetryPolicy
    sms_templates: Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]]
    ack_url: Callable[[NoticeRequested], str | None]
    limiter: SlotTaker | None = None  # None: no send-rate limits (benchmarks)
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    unit_random: Callable[[], float] = random.random
    monotonic: Callable[[], float] = time.monotonic
    breaker: CircuitBreaker | None = None  # None: one of its own, on `monotonic`
    metrics: Metrics = field(default_factory=Metrics)  # the notifier's registry
    followup: FollowUp | None = None  # SMS reply codes and delivery reports; None: neither
    _lender: SlotLender | None = field(default=None, init=False, repr=False)
    _sending: SendingLedger | None = field(default=None, init=False, repr=False)
    _counts: NotifierMetrics = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.breaker is None:
            self.breaker = CircuitBreaker(
                self.channels, monotonic=self.monotonic, metrics=self.metrics
            )
        self._lender = self.limiter if isinstance(self.limiter, SlotLender) else None
        self._sending = self.ledger if isinstance(self.ledger, SendingLedger) else None
        self._counts = NotifierMetrics(self.metrics, self.channels)

    @property
    def circuit(self) -> CircuitBreaker:
        """The channels' circuit breaker."""
        assert self.breaker is not None  # set in __post_init__
        return self.breaker

    async def deliver(self, notice: NoticeRequested) -> None:
        """Deliver one notice to its recipient on the first channel that works."""
        plans = notice.channels
        # A redelivered notice may have gone out on a later channel after an earlier one
        # failed: each claim also looks at the other channels' keys, so the earlier one
        # is not tried again (that would tell the person twice).
        keys = {notice.delivery_key(p.channel): p.channel for p in plans}
        reasons = []
        for position, plan in enumerate(plans):
            channel = self.channels.get(plan.channel)
            if channel is None:
                reasons.append(f"{plan.channel}: channel is off (not configured)")
                continue
            if plan.not_before is not None and plan.not_before > self.clock.now():
                self._counts.channel(plan.channel).deferred.inc()
                await self.outcomes.deferred(notice, plan.not_before)
                return
            final = not any(p.channel in self.channels for p in plans[position + 1 :])
            error = await self._behind_circuit(notice, channel, final, keys)
            if error is None:
                return
            reasons.append(f"{plan.channel}: {error}")
        await self._dead_letter(notice, reasons)

    async def _dead_letter(self, notice: NoticeRequested, reasons: list[str]) -> None:
        """No channel could deliver the notice: to the notices dead-letter topic."""
        tried = any(p.channel in self.channels for p in notice.channels)
        self._counts.dead_lettered.labels("channels_failed" if tried else "no_channel").inc()
        await self.outcomes.dead_letter(notice, "; ".join(reasons) or "no channel planned")

    async def _behind_circuit(
        self, notice: NoticeRequested, channel: Channel, final: bool, keys: Mapping[str, str]
    ) -> DeliveryError | None:
        """The channel's stages, unless its circuit is open: then it fails at once, with
        nothing claimed, rendered or sent."""
        admitted = self.circuit.admit(channel.name)
        if admitted is None:
            error = circuit_open(channel.name)
            self._counts.channel(channel.name).failed["circuit_open"].inc()
            # 1 attempt, as for the other failures found before sending (contract: >= 1).
            await self.outcomes.failed(notice, channel.name, 1, error, final=final)
            return error
        try:
            return await self._on_channel(notice, channel, final, keys)
        finally:
            self.circuit.finish(admitted)

    async def _on_channel(
        self, notice: NoticeRequested, channel: Channel, final: bool, keys: Mapping[str, str]
    ) -> DeliveryError | None:
        key = notice.delivery_key(channel.name)
        found = await self._claim(key, [k for k in keys if k != key])
        again = found in ("doubt", "doubt_again") and not resend_is_harmless(channel)
        if again and await self._in_doubt(notice, channel.name, key, found == "doubt_again"):
            return None
        if isinstance(found, tuple):  # sent before (a redelivery), or by another replica
            sent_key, sent = found
            await self._receipt_again(notice, keys.get(sent_key, channel.name), sent_key, sent)
            return None
        began: list[bool] = []  # set once the provider call begins
        try:
            link = self.ack_url(notice)  # one link: in the text and on a card's button
            rendered = render_for(self.templates, notice, channel, link)
            if self.followup is not None:  # an SMS may carry the notice's reply code
                rendered = await self.followup.with_reply_code(
                    notice, channel, rendered, self.sms_templates
                )
            attempts, outcome = await self._attempts(
                notice, channel, rendered, key, link, began, again
            )
        except LeaseLost:
            log.warning("lease on delivery %s lost before its send: left to others", redact(key))
            return None
        except BaseException:
            # Cancelled or crashed: free a delivery whose send never began, so a restart
            # takes it at once; one cut off mid-send is left to expire, in doubt.
            with contextlib.suppress(Exception):
                if began and self._sending is not None:
                    self._sending.abandon(key)
                else:
                    await asyncio.shield(self.ledger.release(key))
            raise
        if isinstance(outcome, SendResult):
            sent = Sent(outcome.provider_message_id, attempts, self.clock.now())
            await self.ledger.mark_sent(key, sent)
            if self.followup is not None:  # an SMS waits for its delivery report
                await self.followup.accepted(notice, channel, sent)
            self._counts.channel(channel.name).sent.inc()
            await self._receipt(notice, channel.name, key, sent)
            return None
        await self.ledger.release(key)
        self._counts.channel(channel.name).failed[failure_reason(outcome)].inc()
        log.warning(
            "delivery %s failed on %s after %d attempt(s): %s",
            redact(key),
            channel.name,
            attempts,
            outcome,
        )
        await self.outcomes.failed(notice, channel.name, attempts, outcome, final=final)
        return outcome

    async def _receipt_again(
        self, notice: NoticeRequested, channel: str, key: str, sent: Sent
    ) -> None:
        """Publish the receipt of an earlier send once more if it may not be out: a crash
        may have come between the send and its receipt. Same event id, same content."""
        if sent.at is not None and not sent.receipted:
            if self.followup is not None:
                await self.followup.accepted_again(notice, self.channels.get(channel), sent)
            await self._receipt(notice, channel, key, sent)

    async def _receipt(self, notice: NoticeRequested, channel: str, key: str, sent: Sent) -> None:
        """Publish notice.delivered, then note in the ledger that it is out."""
        await self.outcomes.delivered(notice, channel, sent)
        if self._sending is not None:
            await self.ledger.mark_sent(key, replace(sent, receipted=True))

    async def _in_doubt(self, notice: NoticeRequested, channel: str, key: str, twice: bool) -> bool:
        """An earlier send of this delivery began and never ended, on a channel that would
        deliver a repeat: counted and reported; True when it is given up for good (the
        resend was cut off too), False when it is to be sent once more."""
        assert self._sending is not None  # only a SendingLedger answers "doubt"
        self._counts.in_doubt.labels(channel).inc()
        if twice:
            log.error("delivery %s in doubt twice: given up, not sent again", redact(key))
            await self._sending.mark_doubt(key, 2, self.clock.now())
        else:
            log.warning("delivery %s in doubt (its send was cut off): sent once more", redact(key))
        if isinstance(self.outcomes, DoubtOutcomes):
            await self.outcomes.in_doubt(notice, channel, final=twice)
        return twice

    async def _attempts(
        self,
        notice: NoticeRequested,
        channel: Channel,
        rendered: Rendered,
        key: str,
        link: str | None = None,
        began: list[bool] | None = None,
        again: bool = False,
    ) -> tuple[int, SendResult | DeliveryError]:
        """Send with retries (backoff, jitter, deadline); the result or the last error.
        Retries stop early once the channel's circuit opened: it looks down. Before the
        first provider call the ledger notes that the send begins (into `began` too)."""
        attempts, started = 0, self.monotonic()
        while True:
            attempts += 1
            try:
                message = build_message(notice, channel, rendered, key, self.sms_templates, link)
                slot = await self._slot(channel.name, started)
                if began is not None and not began:
                    await self._begin(key, began, again)
                return attempts, await self._send(channel, message, slot)
            except DeliveryError as e:
                delay = self.retry.delay_s(attempts, self.unit_random(), e.retry_after_s)
                elapsed = self.monotonic() - started
                if not (e.retryable and self.retry.allows(attempts, elapsed, delay)):
                    return attempts, e
                if self.circuit.cooling_down(channel.name):
                    return attempts, e
                self._counts.channel(channel.name).retried.inc()
                await self.sleep(delay)

    async def _begin(self, key: str, began: list[bool], again: bool) -> None:
        """Note in the ledger that the send begins; LeaseLost if our lease expired."""
        if self._sending is not None and not await self._sending.sending(key, again):
            raise LeaseLost(key)
        began.append(True)

    async def _slot(self, channel: str, started: float) -> str | None:
        """Wait for the channel's shared send-rate limit, within the retry deadline and
        while its circuit stays closed; the slot's token when it can be given back."""
        self._unless_down(channel)
        if self.limiter is None:
            return None
        budget = max(0.0, self.retry.deadline_s - (self.monotonic() - started))
        if self._lender is None:
            await self.limiter.acquire(channel, budget)
            return None
        token = uuid.uuid4().hex
        await self._lender.acquire(channel, budget, token, lambda: self._unless_down(channel))
        return token

    def _unless_down(self, channel: str) -> None:
        """Raise the circuit-open failure once the channel's circuit opened (meanwhile)."""
        if self.circuit.cooling_down(channel):
            raise circuit_open(channel)

    async def _send(
        self, channel: Channel, message: OutboundMessage, slot: str | None
    ) -> SendResult:
        """One send; tells the circuit breaker how it went, and gives the rate-limit slot
        back when the send never reached the provider."""
        started = self.monotonic()
        try:
            result = await channel.send(message)
        except DeliveryError as e:
            unsent = never_reached_provider(e)
            if unsent or e.retryable:  # the channel looks down; a permanent error does not
                self.circuit.failed(channel.name)
            if unsent and slot is not None and self._lender is not None:
                await self._lender.release(channel.name, slot)
            raise
        finally:
            self._counts.channel(channel.name).send_seconds.observe(self.monotonic() - started)
        self.circuit.succeeded(channel.name)
        return result

    async def _claim(
        self, key: str, others: Sequence[str]
    ) -> Found | Literal["doubt", "doubt_again"] | None:
        """None when this replica now owns the delivery, "doubt" or "doubt_again" when it
        owns one whose earlier send was cut off; else the key found sent (this one or
        another channel's of the same notice) and its record."""
        deadline = self.monotonic() + LEASE_S + 5
        while True:
            claim = await self.ledger.claim(key, others)
            if claim == "claimed":
                return None
            if claim != "busy":
                return claim
            if self.monotonic() > deadline:
                raise RuntimeError(f"delivery {redact(key)} stuck in another replica's lease")
            await self.sleep(BUSY_POLL_S)  # another replica is sending it right now
