"""What the notifier does with one consumed record or one released deferral.

Each notice is isolated: anything but an infrastructure error (a template error, a bug,
a value the adapters cannot take) dead-letters that notice with the reason and lets the
rest go on. Infrastructure errors propagate: the batch is redelivered, or the deferral
is taken again when its lease ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from contracts.notice import NoticeRequested
from contracts.registry import DEFAULT_LIMITS, InputLimits, InvalidEvent, parse_event
from services.clock import Clock
from services.errors import INFRASTRUCTURE_ERRORS
from services.guard import Record, failure_reason
from services.notifier.deferred import DeferredStore, Unreadable
from services.notifier.deliver import Deliverer
from services.notifier.followup import fall_back_once
from services.notifier.render import TemplateError

log = logging.getLogger("duban.notifier")
# Deferrals taken per turn, and for how long: one whose replica dies comes back after the
# lease (a minute). A lease running out while its replica still delivers is harmless: the
# delivery ledger lets one replica send each delivery.
RELEASE_BATCH = 50
RELEASE_LEASE_S = 60.0
RELEASE_IDLE_S = 1.0


@dataclass
class Intake:
    """Turns records and deferrals into deliveries, dead-lettering what cannot be delivered."""

    deliverer: Deliverer
    dead_letter_record: Callable[[Record, str], Awaitable[None]]
    limits: InputLimits = DEFAULT_LIMITS

    async def record(self, record: Record) -> None:
        """Deliver one consumed notice.requested; an unreadable one is dead-lettered."""
        try:
            notice = notice_of(record.value, self.limits)
        except InvalidEvent as e:
            log.warning("dead-lettered notice %s: %s", record.position, e.reason)
            await self.dead_letter_record(record, e.reason)
            return
        await self.notice(notice)

    async def notice(self, notice: NoticeRequested) -> bool:
        """Deliver one notice; True when it is held for later. Only infrastructure errors
        escape."""
        try:
            return await self.deliverer.deliver(notice)
        except TemplateError as e:
            await self.deliverer.outcomes.dead_letter(notice, f"template: {e}")
        except INFRASTRUCTURE_ERRORS:
            raise  # Redis or Kafka down: delivered again later
        except Exception as e:  # a bug on this notice: dead-letter it, never a crash loop
            log.error("notice %s could not be delivered", notice.notice_id, exc_info=e)
            await self.deliverer.outcomes.dead_letter(
                notice, f"notifier error: {failure_reason(e)}"
            )
        return False


def notice_of(raw: bytes, limits: InputLimits = DEFAULT_LIMITS) -> NoticeRequested:
    """The notice.requested in a record; InvalidEvent for anything else."""
    event = parse_event(raw, limits=limits)
    if not isinstance(event.data, NoticeRequested):
        raise InvalidEvent(f"type: expected notice.requested, got '{event.type}'")
    return event.data


async def release_once(intake: Intake, store: DeferredStore, clock: Clock) -> int:
    """Deliver the deferrals whose quiet hours ended; how many were taken."""
    due = await store.claim(clock.now(), RELEASE_BATCH, lease_s=RELEASE_LEASE_S)
    for item in due:
        if isinstance(item, Unreadable):
            reason = "deferred notice unreadable: " + item.reason
            log.warning("dead-lettered deferral %s: %s", item.member, item.reason)
            await intake.dead_letter_record(Record(item.raw, "duban:deferred", 0, 0), reason)
            await store.forget(item.member)
            continue
        if not await intake.notice(item):  # held again: its new time stands
            await store.done(item)
    return len(due)


async def release_deferred(
    intake: Intake,
    store: DeferredStore,
    clock: Clock,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Release deferrals, and send on the SMS whose delivery report failed or did not come,
    for good; an outage only pauses it (leases bring them back)."""
    while True:
        try:
            taken = await release_once(intake, store, clock)
            taken += await follow_up_once(intake)
        except INFRASTRUCTURE_ERRORS as e:
            log.warning("releasing deferred notices paused: %s", failure_reason(e))
            taken = 0
        if not taken:
            await sleep(RELEASE_IDLE_S)


async def follow_up_once(intake: Intake) -> int:
    """Send on the SMS deliveries due for a fallback (services.notifier.followup)."""
    deliverer = intake.deliverer
    followup = getattr(deliverer, "followup", None)  # stand-in deliverers in tests lack it
    if followup is None:
        return 0
    return await fall_back_once(followup, intake.notice, deliverer.outcomes, deliverer.channels)
