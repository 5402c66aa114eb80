"""What the deliverer needs from around it: where outcomes go, the delivery ledger, the
send-rate limits; the narrower protocols it checks for at run time (a ledger that notes
sends beginning, outcomes that report doubt); and when a repeated send is harmless."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from contracts.notice import NoticeRequested
from services.notifier.channels import Channel, DeliveryError, OutboundMessage, SendResult
from services.notifier.ledger import Claim, Found, Sent


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
        or one of ``others`` was sent (that key and its record), or that it was given up
        in doubt (its record's ``at`` is None; ``others`` given up so do not count)."""

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

    async def no_answer(self, notice: NoticeRequested, channel: str) -> None:
        """A send got no answer (the provider may have the message) and the delivery went
        on: the person may get it twice."""

    async def in_doubt(self, notice: NoticeRequested, channel: str, final: bool) -> None:
        """An earlier send may or may not have reached the person: it is sent once more
        (``final`` False), or given up (True)."""


class LeaseLost(Exception):
    """Our lease on a delivery expired before its send began (a freeze): another replica
    may be sending it, so this one does not."""


@runtime_checkable
class AskableChannel(Protocol):
    """A channel whose provider can be asked whether it took a message of our delivery
    key (Aliyun QuerySendDetails by OutId, Tencent's status pull by SessionContext)."""

    name: str

    async def sent_before(self, message: OutboundMessage) -> SendResult | None:
        """The provider's record of a message sent under ``message.delivery_key`` (None:
        it has none); DeliveryError when it cannot tell."""


def resend_is_harmless(channel: Channel) -> bool:
    """Whether the channel's provider drops a repeated send of the same delivery key."""
    return bool(getattr(channel, "dedupes_by_key", False))
