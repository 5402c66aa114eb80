"""Holding a notice no channel could deliver for now, rather than giving it up.

When every planned channel failed and the last one failed with an error that a later
try may cure (the provider down, its circuit open, retries out of time), the notice is
held (the quiet-hours store, services/notifier/deferred.py) and tried again from its
first channel: after a wait that grows with its age (a quarter of it, between
``min_wait_s`` and ``max_wait_s``), for at most ``window_s`` after it was due. A
permanent failure, or one past the window, goes to the notices dead-letter topic as
before. Each try publishes its non-final notice.failed receipts; the last one's is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.notice import NoticeRequested
from services.notifier.channels import DeliveryError

HOLD_WINDOW_S = 86_400.0  # a day: long enough for a provider's outage, short for a notice


@dataclass(frozen=True)
class Holding:
    """How long and how often an undeliverable notice is tried again."""

    window_s: float = HOLD_WINDOW_S
    min_wait_s: float = 30.0
    max_wait_s: float = 1_800.0

    def until(
        self, notice: NoticeRequested, error: DeliveryError | None, now: datetime
    ) -> datetime | None:
        """When to try the notice again after `error` on its last channel; None: give up."""
        if error is None or not error.retryable:
            return None
        age_s = (now - notice.due_at).total_seconds()
        if age_s >= self.window_s:
            return None
        wait_s = min(self.max_wait_s, max(self.min_wait_s, age_s / 4))
        if error.retry_after_s is not None:
            wait_s = max(wait_s, min(error.retry_after_s, self.max_wait_s))
        return now + timedelta(seconds=wait_s)

    def final(self, notice: NoticeRequested, error: DeliveryError, now: datetime) -> bool:
        """Whether a failure on the notice's last channel ends its delivery."""
        return self.until(notice, error, now) is None
