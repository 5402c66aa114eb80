"""A notice whose every channel looks down for now is held and tried again later, not
dead-lettered (services/notifier/holding.py): the real notifier, Redis's deferral store
and its release loop, a webhook receiver answering 503 until it comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import read_topic, wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    notice,
    notice_publisher,
    outcomes,
    receipts,
    use_webhook,
)
from tests.providers import FakeWebhookReceiver


async def test_a_notice_held_while_its_channel_is_down_goes_out_once_it_is_back(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeWebhookReceiver() as fake:
        use_webhook(monkeypatch, fake)
        fake.fail_next(FAST_RETRY.max_attempts, status=503)  # the whole first round
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(notice(1, "webhook"))
            first = await receipts(settings, 1)
            assert [(e["data"]["retryable"], e["data"]["final"]) for e in first] == [(True, False)]
            assert len(fake.accepted) == 0
            clock.advance(timedelta(seconds=31))  # the hold's first wait (30 s) is over
            await wait_for(lambda: len(fake.accepted) == 1, timeout_s=30, what="the resend")
            found = await receipts(settings, 2)
    assert outcomes(found) == [
        ("notice.failed", "webhook", FAST_RETRY.max_attempts),
        ("notice.delivered", "webhook", 1),
    ]
    dead = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, 0, 1)
    assert dead == []
