"""Deliveries in doubt, mixed into services.notifier.deliver.Deliverer (whose fields it
uses: ack_url, templates, sms_templates, clock, outcomes, and the sending ledger and
metrics it derived).

A delivery whose earlier send began and never ended is in doubt: the provider may have
the message. A provider that can be asked whether it took our key is asked; elsewhere
the delivery is counted and reported in doubt and sent once more, and when that resend
is cut off too it is given up on that channel for good (``given_up_in_doubt``: the
notice goes on to its next channel). A send that got no answer is reported the same way
when the delivery goes on past it.
"""

from __future__ import annotations

import logging
from typing import Any

from contracts.notice import NoticeRequested
from services.masking import redact
from services.notifier.channels import Channel, DeliveryError, SendResult
from services.notifier.messages import build_message, render_for
from services.notifier.ports import AskableChannel, DoubtOutcomes

log = logging.getLogger("duban.notifier")


def given_up_in_doubt(channel: str) -> DeliveryError:
    """A channel on which two sends of a delivery were cut off: not sent a third time
    there; the notice goes on to its next channel (the person may get it on both)."""
    return DeliveryError(
        "given up in doubt: two sends were cut off midway", retryable=False, channel=channel
    )


class DoubtStages:
    """Asking, counting and reporting deliveries in doubt."""

    # Set by the Deliverer (a dataclass) this is mixed into.
    ack_url: Any
    templates: Any
    sms_templates: Any
    clock: Any
    outcomes: Any
    _sending: Any
    _counts: Any

    async def _ask(
        self, notice: NoticeRequested, channel: Channel, key: str
    ) -> SendResult | bool | None:
        """For a delivery in doubt, ask a provider that can say whether it took our key:
        its record (it has it), False (it has none: a resend is safe), None (cannot tell,
        or the channel cannot be asked)."""
        if not isinstance(channel, AskableChannel):
            return None
        link = self.ack_url(notice)
        try:
            rendered = render_for(self.templates, notice, channel, link)
            message = build_message(notice, channel, rendered, key, self.sms_templates, link)
            found = await channel.sent_before(message)
        except DeliveryError as e:
            log.warning("delivery %s in doubt; its provider cannot tell: %s", redact(key), e)
            return None
        log.warning(
            "delivery %s in doubt; its provider %s",
            redact(key),
            "has it: not sent again" if found else "has none: sent again",
        )
        return found if found is not None else False

    async def _in_doubt(
        self, notice: NoticeRequested, channel: str, key: str, twice: bool, last: bool
    ) -> bool:
        """An earlier send of this delivery began and never ended, on a channel that would
        deliver a repeat: counted and reported; True when it is given up on this channel
        for good (the resend was cut off too: the next channel is tried, if `last` is
        False), False when it is to be sent once more."""
        assert self._sending is not None  # only a SendingLedger answers "doubt"
        self._counts.in_doubt.labels(channel).inc()
        if twice:
            log.error("delivery %s in doubt twice: given up, not sent again", redact(key))
            await self._sending.mark_doubt(key, 2, self.clock.now())
        else:
            log.warning("delivery %s in doubt (its send was cut off): sent once more", redact(key))
        if isinstance(self.outcomes, DoubtOutcomes):
            await self.outcomes.in_doubt(notice, channel, final=twice and last)
        return twice

    async def _no_answer(self, notice: NoticeRequested, channel: str, key: str) -> None:
        """A send of the delivery got no answer and the delivery went on (a resend on a
        channel that would deliver a repeat, the next channel, or later): counted and
        reported in doubt, for the person may get it twice."""
        self._counts.in_doubt.labels(channel).inc()
        log.warning("delivery %s in doubt: the provider did not answer a send", redact(key))
        if isinstance(self.outcomes, DoubtOutcomes):
            await self.outcomes.no_answer(notice, channel)
