"""A quiet-hours deferral whose release fails (a bug on that notice) ends in a dead
letter once, on the real stack, while the deferral after it is delivered."""

from __future__ import annotations

import json
import os
from copy import deepcopy
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from contracts.topics import DLQ_HEADER_REASON
from deploy.local.standins.smtp import FakeSmtpServer
from services.config.load import load_config
from services.notifier.app import create_notifier
from services.notifier.channels import OutboundMessage, SendResult
from services.notifier.deferred import DEFERRED_KEY
from services.notifier.setup import build_channels
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.hostile.corpus import example
from tests.integration.conftest import EXAMPLE, read_topic, wait_for


class BuggyOnPoison:
    """The real email channel, with a bug that shows only for one notice."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.family = inner, inner.name, inner.family

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.delivery_key.startswith("ntc-poison"):
            raise KeyError("a bug on this notice")
        result: SendResult = await self.inner.send(message)
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


def deferred_notice(notice_id: str, not_before: str) -> bytes:
    notice = deepcopy(example("notice.requested"))
    notice["id"] = notice["subject"] = notice["data"]["notice_id"] = notice_id
    notice["data"]["recipient"]["email"] = f"{notice_id}@unit.example"
    notice["data"]["channels"] = [{"channel": "email", "not_before": not_before}]
    return json.dumps(notice, ensure_ascii=False).encode()


async def test_a_failing_release_is_dead_lettered_and_the_next_one_delivered(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, redis: Redis, publish
) -> None:
    channels = build_channels(load_config(EXAMPLE), os.environ)
    channels["email"] = BuggyOnPoison(channels["email"])  # type: ignore[assignment]
    notifier = create_notifier(settings, clock=clock, channels=channels)
    later = (clock.now() + timedelta(hours=1)).isoformat()
    async with running(notifier.app):
        for notice_id in ("ntc-poison", "ntc-canary"):
            await publish(settings.topics.notice_requested, deferred_notice(notice_id, later))

        async def both_held() -> bool:
            return await redis.zcard(DEFERRED_KEY) == 2

        await wait_for(both_held, what="both notices deferred")
        clock.advance(timedelta(hours=2))
        await wait_for(lambda: len(smtp.messages) == 1, what="the canary delivered")

        async def none_held() -> bool:
            return await redis.zcard(DEFERRED_KEY) == 0

        await wait_for(none_held, what="no deferral left to re-claim")
    letters = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, 1)
    assert [json.loads(r.value)["data"]["notice_id"] for r in letters] == ["ntc-poison"]
    reason = dict(letters[0].headers)[DLQ_HEADER_REASON].decode()
    assert "KeyError" in reason
    assert smtp.messages[0].rcpt_tos == ["ntc-canary@unit.example"]
