"""Retry timing: exponential backoff with full jitter, bounded by attempts and a deadline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one channel before falling back to the next."""

    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    deadline_s: float = 120.0

    def delay_s(self, attempt: int, unit_random: float, retry_after_s: float | None) -> float:
        """Wait before attempt `attempt + 1` (attempt counts from 1); `unit_random` in [0, 1)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        jittered = ceiling * unit_random  # full jitter spreads replicas' retries apart
        return max(jittered, retry_after_s or 0.0)

    def allows(self, attempt: int, elapsed_s: float, next_delay_s: float) -> bool:
        """Whether another attempt fits in the attempt budget and the deadline."""
        return attempt < self.max_attempts and elapsed_s + next_delay_s <= self.deadline_s
