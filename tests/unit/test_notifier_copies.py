"""Two copies of one notice in one notifier at once (the engine published it again and
both landed in one batch): the real ledger counts a replica's own live lease as claimed,
so without the deliverer's own guard both copies would be sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.notifier.channels import OutboundMessage, SendResult
from services.notifier.ledger import Sent
from services.notifier.render import TemplateSet
from tests.stack import wait_until_async
from tests.unit.test_notifier_deliver import OK, MemoryLedger, ScriptedChannel, deliverer, notice

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


class OwnLeaseLedger(MemoryLedger):
    """Like the Redis ledger: this replica's own live lease answers "claimed" again."""

    async def claim(self, key: str, others: Sequence[str] = ()) -> str | tuple[str, Sent]:
        value = self.values.get(key)
        if value == "sending:me":
            return "claimed"
        return await super().claim(key, others)


class SlowChannel(ScriptedChannel):
    """A provider that answers only when the test lets it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.answer = asyncio.Event()

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        await self.answer.wait()
        return OK


async def test_a_second_copy_waits_for_the_first_and_sends_nothing(
    templates: TemplateSet,
) -> None:
    webhook = SlowChannel("webhook")
    d = deliverer(templates, webhook, ledger=OwnLeaseLedger())
    first = asyncio.create_task(d.deliver(notice("webhook")))
    second = asyncio.create_task(d.deliver(notice("webhook")))
    await wait_until_async(lambda: webhook.sent, what="the first copy with the provider")
    for _ in range(20):  # the second copy has every chance to run meanwhile
        await asyncio.sleep(0)
    assert len(webhook.sent) == 1
    webhook.answer.set()
    await asyncio.gather(first, second)
    assert len(webhook.sent) == 1
    # The second copy found it sent: at most the same receipt again (same content, same
    # event id; the Redis ledger notes it out and keeps even that from repeating).
    first_receipt, *again = d.outcomes.receipts
    assert all(r == first_receipt for r in again) and len(again) <= 1
