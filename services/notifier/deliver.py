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
is given up in doubt on that channel for good, never sent a third time there: the
notice goes on to its next channel, as after a failure (a lost notice is worse than one
told on two channels), or, on its last channel, ends in doubt (a final receipt). A
receipt is published once per delivery: the ledger notes when it is out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from contracts.notice import NoticeRequested
from services.clock import Clock
from services.masking import redact
from services.metrics import Metrics, NotifierMetrics
from services.notifier.channels import Channel, DeliveryError, SendResult
from services.notifier.circuit import CircuitBreaker, circuit_open, failure_reason
from services.notifier.doubt import DoubtStages, given_up_in_doubt
from services.notifier.followup import FollowUp
from services.notifier.holding import Holding
from services.notifier.ledger import LEASE_S, Found, Sent
from services.notifier.messages import render_for
from services.notifier.ports import (
    LeaseLost,
    Ledger,
    Outcomes,
    SendingLedger,
    SlotLender,
    SlotTaker,
    resend_is_harmless,
)
from services.notifier.render import TemplateSet
from services.notifier.retry import RetryPolicy
from services.notifier.stages import SendStages

log = logging.getLogger("duban.notifier")
BUSY_POLL_S = 0.2
LEASE_CLAIMS = 3  # claims of one delivery per channel when its lease is lost before the send


@dataclass
class Deliverer(SendStages, DoubtStages):
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
    holding: Holding = field(default_factory=Holding)  # undeliverable for now: tried again
    _lender: SlotLender | None = field(default=None, init=False, repr=False)
    _sending: SendingLedger | None = field(default=None, init=False, repr=False)
    _counts: NotifierMetrics = field(init=False, repr=False)
    # Deliveries under way in this process: a second copy of a notice (the engine
    # published it again, both in one batch) waits for the first instead of sharing
    # its lease and sending too.
    _in_flight: dict[str, asyncio.Event] = field(default_factory=dict, init=False, repr=False)
    # Deliveries one of whose sends got no answer: the provider may have the message.
    _unanswered: set[str] = field(default_factory=set, init=False, repr=False)

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

    async def deliver(self, notice: NoticeRequested) -> bool:
        """Deliver one notice to its recipient on the first channel that works; True when
        it is held to be tried later (quiet hours, or every channel down for now)."""
        plans = notice.channels
        # A redelivered notice may have gone out on a later channel after an earlier one
        # failed: each claim also looks at the other channels' keys, so the earlier one
        # is not tried again (that would tell the person twice).
        keys = {notice.delivery_key(p.channel): p.channel for p in plans}
        reasons: list[str] = []
        error: DeliveryError | None = None
        for position, plan in enumerate(plans):
            channel = self.channels.get(plan.channel)
            if channel is None:
                reasons.append(f"{plan.channel}: channel is off (not configured)")
                continue
            if plan.not_before is not None and plan.not_before > self.clock.now():
                self._counts.channel(plan.channel).deferred.inc()
                await self.outcomes.deferred(notice, plan.not_before)
                return True
            final = not any(p.channel in self.channels for p in plans[position + 1 :])
            error = await self._behind_circuit(notice, channel, final, keys)
            if error is None:
                return False
            reasons.append(f"{plan.channel}: {error}")
        return await self._undelivered(notice, reasons, error)

    async def _undelivered(
        self, notice: NoticeRequested, reasons: list[str], last: DeliveryError | None
    ) -> bool:
        """No channel delivered the notice: held to be tried again while its last
        channel's failure may pass (services/notifier/holding.py), else dead-lettered."""
        until = self.holding.until(notice, last, self.clock.now())
        if until is None:
            await self._dead_letter(notice, reasons)
            return False
        self._counts.held.inc()
        log.warning(
            "notice %s undelivered for now, tried again at %s: %s",
            redact(notice.notice_id),
            until.isoformat(timespec="seconds"),
            redact("; ".join(reasons), limit=500),
        )
        await self.outcomes.deferred(notice, until)
        return True

    def _final(self, notice: NoticeRequested, last_channel: bool, error: DeliveryError) -> bool:
        """A failure ends the delivery on its last channel, unless the notice is held."""
        return last_channel and self.holding.final(notice, error, self.clock.now())

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
            final = self._final(notice, final, error)
            await self.outcomes.failed(notice, channel.name, 1, error, final=final)
            return error
        try:
            async with self._alone(notice.delivery_key(channel.name)):
                return await self._on_channel(notice, channel, final, keys)
        finally:
            self.circuit.finish(admitted)

    @contextlib.asynccontextmanager
    async def _alone(self, key: str) -> AsyncIterator[None]:
        """One delivery of `key` at a time in this process; the next one waits."""
        while (other := self._in_flight.get(key)) is not None:
            await other.wait()
        done = self._in_flight[key] = asyncio.Event()
        try:
            yield
        finally:
            del self._in_flight[key]
            self._unanswered.discard(key)
            done.set()

    async def _on_channel(
        self, notice: NoticeRequested, channel: Channel, final: bool, keys: Mapping[str, str]
    ) -> DeliveryError | None:
        """The delivery on one channel. A lease lost before the send (frozen past it) is
        claimed again: another replica may be sending it (the claim waits, then finds it
        sent), or nobody is, and then this one must, or the notice is lost."""
        key = notice.delivery_key(channel.name)
        for _ in range(LEASE_CLAIMS):
            try:
                return await self._on_channel_once(notice, channel, final, keys)
            except LeaseLost:
                log.warning("lease on delivery %s lost before its send: claimed again", redact(key))
        return DeliveryError(
            f"lease lost before the send {LEASE_CLAIMS} times", retryable=True, channel=channel.name
        )

    async def _on_channel_once(
        self, notice: NoticeRequested, channel: Channel, final: bool, keys: Mapping[str, str]
    ) -> DeliveryError | None:
        key = notice.delivery_key(channel.name)
        found = await self._claim(key, [k for k in keys if k != key])
        asked = await self._ask(notice, channel, key) if found in ("doubt", "doubt_again") else None
        if isinstance(asked, SendResult):  # the provider has it: recorded, not sent again;
            # its delivery report came while nobody waited for it: none is awaited now
            await self._sent(notice, channel, key, asked, 1, await_report=False)
            return None
        again = asked is None and found in ("doubt", "doubt_again")
        again = again and not resend_is_harmless(channel)
        if again and await self._in_doubt(notice, channel.name, key, found == "doubt_again", final):
            return None if final else given_up_in_doubt(channel.name)
        if isinstance(found, tuple):  # sent before (a redelivery), or by another replica
            return await self._found(notice, channel, found, final, keys)
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
            raise  # nothing sent, nothing of ours to free: claimed again
        except BaseException:
            # Cancelled or crashed: free a delivery whose send never began, so a restart
            # takes it at once; one cut off mid-send is left to expire, in doubt.
            with contextlib.suppress(Exception):
                if began and self._sending is not None:
                    self._sending.abandon(key)
                else:
                    await asyncio.shield(self.ledger.release(key))
            raise
        if key in self._unanswered and not (
            isinstance(outcome, SendResult) and resend_is_harmless(channel)
        ):  # a send got no answer, and what followed may repeat it to the person
            await self._no_answer(notice, channel.name, key)
        if isinstance(outcome, SendResult):
            await self._sent(notice, channel, key, outcome, attempts)
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
        final = self._final(notice, final, outcome)
        await self.outcomes.failed(notice, channel.name, attempts, outcome, final=final)
        return outcome

    async def _sent(
        self,
        notice: NoticeRequested,
        channel: Channel,
        key: str,
        result: SendResult,
        attempts: int,
        await_report: bool = True,
    ) -> None:
        """The provider accepted the message: recorded, counted, receipted."""
        sent = Sent(result.provider_message_id, attempts, self.clock.now())
        await self.ledger.mark_sent(key, sent)
        if self.followup is not None and await_report:  # an SMS waits for its report
            await self.followup.accepted(notice, channel, sent)
        self._counts.channel(channel.name).sent.inc()
        await self._receipt(notice, channel.name, key, sent)

    async def _found(
        self,
        notice: NoticeRequested,
        channel: Channel,
        found: Found,
        final: bool,
        keys: Mapping[str, str],
    ) -> DeliveryError | None:
        """The delivery (or another channel's of the notice) was done before: its receipt
        once more if it may not be out; given up in doubt here: on to the next channel."""
        sent_key, sent = found
        if sent.at is None and not final:
            return given_up_in_doubt(channel.name)
        await self._receipt_again(notice, keys.get(sent_key, channel.name), sent_key, sent)
        return None

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
