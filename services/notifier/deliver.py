"""Delivering one notice.requested: render, then try each planned channel in order.

Stages per channel, one signature each (after Alertmanager's notify pipeline): skip a
channel that is off, defer out of quiet hours, claim the delivery key, send with
retries, record "sent" only after the provider accepted, and emit a receipt for every
outcome. A permanent failure or exhausted retries fall back to the next channel; when
none is left the notice goes to the notices dead-letter topic.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contracts.notice import NoticeRequested
from services.clock import Clock
from services.notifier.channels import Channel, DeliveryError, SendResult
from services.notifier.channels.masking import redact
from services.notifier.ledger import DeliveryLedger
from services.notifier.messages import build_message
from services.notifier.render import Rendered, TemplateSet
from services.notifier.retry import RetryPolicy

log = logging.getLogger("duban.notifier")
LEASE_S = 300.0
# What each channel family reads from a rendering (rendering everything costs ~4x more).
FAMILIES_OF = {
    "email": ("subject", "text", "html"),
    "chat": ("subject", "text", "markdown"),
    "sms": ("sms",),
    "webhook": ("subject", "text"),
}
BUSY_POLL_S = 0.2


class Outcomes(Protocol):
    """Where delivery outcomes go: receipts, deferrals, dead letters."""

    async def delivered(
        self, notice: NoticeRequested, channel: str, attempts: int, result: SendResult
    ) -> None:
        """A channel accepted the message."""

    async def failed(
        self,
        notice: NoticeRequested,
        channel: str,
        attempts: int,
        error: DeliveryError,
        final: bool,
    ) -> None:
        """A channel failed for good (retries spent or permanent)."""

    async def deferred(self, notice: NoticeRequested, until: datetime) -> None:
        """Hold the notice until `until` (quiet hours), then deliver it again."""

    async def dead_letter(self, notice: NoticeRequested, reason: str) -> None:
        """No channel could deliver the notice."""


@dataclass
class Deliverer:
    """Delivers notices through the configured channels."""

    channels: Mapping[str, Channel]
    templates: TemplateSet
    ledger: DeliveryLedger
    outcomes: Outcomes
    clock: Clock
    retry: RetryPolicy
    sms_templates: Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]]
    ack_url: Callable[[NoticeRequested], str | None]
    sleep: Callable[[float], object] = asyncio.sleep
    unit_random: Callable[[], float] = random.random

    async def deliver(self, notice: NoticeRequested) -> None:
        """Deliver one notice to its recipient on the first channel that works."""
        reasons = []
        for position, plan in enumerate(notice.channels):
            channel = self.channels.get(plan.channel)
            if channel is None:
                reasons.append(f"{plan.channel}: channel is off (not configured)")
                continue
            if plan.not_before is not None and plan.not_before > self.clock.now():
                await self.outcomes.deferred(notice, plan.not_before)
                return
            last = position == len(notice.channels) - 1
            rendered = self.templates.render(
                notice.kind,
                notice.action,
                {**notice.facts},
                self.ack_url(notice),
                families=FAMILIES_OF[channel.family],
            )
            error = await self._on_channel(notice, channel, rendered, last)
            if error is None:
                return
            reasons.append(f"{plan.channel}: {error}")
        await self.outcomes.dead_letter(notice, "; ".join(reasons) or "no channel planned")

    async def _on_channel(
        self, notice: NoticeRequested, channel: Channel, rendered: Rendered, last: bool
    ) -> DeliveryError | None:
        key = notice.delivery_key(channel.name)
        if not await self._claim(key):
            return None  # delivered before (redelivery, restart, another replica)
        attempts, started = 0, time.monotonic()
        while True:
            attempts += 1
            try:
                message = build_message(notice, channel, rendered, key, self.sms_templates)
                result = await channel.send(message)
            except DeliveryError as e:
                delay = self.retry.delay_s(attempts, self.unit_random(), e.retry_after_s)
                elapsed = time.monotonic() - started
                if e.retryable and self.retry.allows(attempts, elapsed, delay):
                    await self.sleep(delay)
                    continue
                await self.ledger.release(key)
                log.warning(
                    "delivery %s failed on %s after %d attempt(s): %s",
                    redact(key),
                    channel.name,
                    attempts,
                    e,
                )
                await self.outcomes.failed(notice, channel.name, attempts, e, final=last)
                return e
            await self.ledger.mark_sent(key, result.provider_message_id or "")
            await self.outcomes.delivered(notice, channel.name, attempts, result)
            return None

    async def _claim(self, key: str) -> bool:
        """True when this replica now owns the delivery; False when it was already sent."""
        deadline = time.monotonic() + LEASE_S + 5
        while True:
            claim = await self.ledger.claim(key, LEASE_S)
            if claim == "claimed":
                return True
            if claim == "sent":
                return False
            if time.monotonic() > deadline:
                raise RuntimeError(f"delivery {redact(key)} stuck in another replica's lease")
            await self.sleep(BUSY_POLL_S)  # another replica is sending it right now
