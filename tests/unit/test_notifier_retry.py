"""Retry timing: exponential backoff with full jitter, provider hints, attempts and deadline."""

from __future__ import annotations

import pytest

from services.notifier.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_s=0.5, cap_s=30.0, deadline_s=120.0)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (30, 30.0)]
)
def test_the_ceiling_doubles_per_attempt_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert POLICY.delay_s(attempt, 0.999999, None) == pytest.approx(ceiling, rel=1e-5)


def test_full_jitter_spreads_the_delay_over_zero_to_the_ceiling() -> None:
    delays = [POLICY.delay_s(3, u / 10, None) for u in range(10)]
    assert delays == sorted(delays) and delays[0] == 0.0 and max(delays) < 2.0
    assert len(set(delays)) == 10


def test_a_provider_retry_after_is_a_floor() -> None:
    assert POLICY.delay_s(1, 0.5, 60.0) == 60.0  # WeCom 45009: wait the minute out
    assert POLICY.delay_s(5, 0.99, 0.1) == pytest.approx(7.92)  # hint shorter than backoff


def test_attempts_stop_at_the_budget() -> None:
    assert POLICY.allows(4, elapsed_s=1.0, next_delay_s=1.0)
    assert not POLICY.allows(5, elapsed_s=1.0, next_delay_s=1.0)


def test_no_attempt_is_planned_past_the_deadline() -> None:
    assert POLICY.allows(1, elapsed_s=59.0, next_delay_s=61.0)  # exactly at the deadline
    assert not POLICY.allows(1, elapsed_s=59.0, next_delay_s=61.5)
    assert not POLICY.allows(1, elapsed_s=0.0, next_delay_s=3600.0)  # a 1-hour hint
