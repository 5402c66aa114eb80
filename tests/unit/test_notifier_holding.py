"""Holding an undeliverable notice: when it is tried again, and when it is given up."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contracts.notice import NoticeRequested
from contracts.registry import parse_event
from services.notifier.channels import DeliveryError
from services.notifier.holding import Holding

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "examples" / "notice.requested.json"
DOWN = DeliveryError("HTTP 503", retryable=True)


@pytest.fixture(scope="module")
def notice() -> NoticeRequested:
    data = parse_event(EXAMPLE.read_bytes()).data
    assert isinstance(data, NoticeRequested)
    return data


def after(notice: NoticeRequested, seconds: float) -> datetime:
    return notice.due_at + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("age_s", "wait_s"),
    [(0, 30), (60, 30), (400, 100), (3_600, 900), (7_200, 1_800), (80_000, 1_800)],
)
def test_the_wait_is_a_quarter_of_the_age_within_bounds(
    notice: NoticeRequested, age_s: float, wait_s: float
) -> None:
    now = after(notice, age_s)
    assert Holding().until(notice, DOWN, now) == now + timedelta(seconds=wait_s)
    assert not Holding().final(notice, DOWN, now)


def test_a_provider_asking_to_wait_longer_is_obeyed_up_to_the_cap(notice: NoticeRequested) -> None:
    now = after(notice, 0)
    limited = DeliveryError("rate", retryable=True, retry_after_s=600)
    assert Holding().until(notice, limited, now) == now + timedelta(seconds=600)
    flooded = DeliveryError("rate", retryable=True, retry_after_s=90_000)
    assert Holding().until(notice, flooded, now) == now + timedelta(seconds=1_800)


def test_a_permanent_failure_is_not_held(notice: NoticeRequested) -> None:
    refused = DeliveryError("invalid user", retryable=False)
    now = after(notice, 0)
    assert Holding().until(notice, refused, now) is None
    assert Holding().final(notice, refused, now)
    assert Holding().until(notice, None, now) is None


def test_past_the_window_it_is_given_up(notice: NoticeRequested) -> None:
    holding = Holding(window_s=3_600)
    assert holding.until(notice, DOWN, after(notice, 3_599)) is not None
    assert holding.until(notice, DOWN, after(notice, 3_600)) is None
    assert holding.final(notice, DOWN, after(notice, 3_600))
