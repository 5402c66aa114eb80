"""The send stage of a delivery, mixed into services.notifier.deliver.Deliverer (whose
fields it uses: retry, limiter, sleep, unit_random, monotonic, sms_templates, circuit, and
the ledger, slot lender and metrics it derived): wait for the channel's send-rate slot,
note that the send begins, send with retries (backoff, jitter, deadline), tell the
circuit breaker how each send went, give a slot back when the send never reached the
provider, and note a send that got no answer (the provider may have the message)."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.notice import NoticeRequested
from services.notifier.channels import Channel, DeliveryError, OutboundMessage, SendResult
from services.notifier.channels.base import may_have_been_accepted, never_reached_provider
from services.notifier.circuit import circuit_open
from services.notifier.messages import build_message
from services.notifier.ports import LeaseLost
from services.notifier.render import Rendered


class SendStages:
    """Sending one delivery on one channel, with its retries."""

    # Set by the Deliverer (a dataclass) this is mixed into.
    retry: Any
    limiter: Any
    sleep: Any
    unit_random: Any
    monotonic: Any
    sms_templates: Any
    circuit: Any
    _lender: Any
    _sending: Any
    _counts: Any
    _unanswered: set[str]

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
                if began is not None:  # before every attempt: a replica frozen past its
                    await self._begin(key, began, again)  # lease must not retry a send
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
            if may_have_been_accepted(e):
                self._unanswered.add(message.delivery_key)
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
