"""The chaos run's providers: the SMTP and webhook stand-ins, failing at random.

Each accepted message is recorded with its delivery key (the email's X-Duban-Delivery
header, the webhook's X-Duban-Delivery header) and the wall-clock moment it arrived.
Failures are drawn from the seed: SMTP 4xx (retryable) and 5xx (permanent: the notice
falls back to the webhook) replies, SMTP replies held past the client's timeout before
the message is taken; webhook HTTP 500/503, requests held past the timeout before they
are taken, and requests taken whose answer comes after the client gave up (the
receiver de-duplicates by the delivery key, as the webhook contract asks).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from deploy.local.standins import FakeWebhookReceiver
from deploy.local.standins.smtp import FakeSmtpServer, ReceivedMail

HOLD_S = 8.0  # longer than the chaos channels' timeout_s (5)
SECRET = "chaos-webhook-secret"


@dataclass(frozen=True)
class Received:
    """One message a provider took."""

    key: str
    channel: str
    at: float  # time.time()


@dataclass
class Inbox:
    """Everything the stand-ins took, and the failures they made."""

    received: list[Received] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


class _Taken(list[ReceivedMail]):
    """The SMTP stand-in's message list, noting each message in the inbox as it comes."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    def append(self, mail: ReceivedMail) -> None:
        super().append(mail)
        key = str(mail.message["X-Duban-Delivery"])
        self.inbox.received.append(Received(key, "email", time.time()))


class ChaosWebhook(FakeWebhookReceiver):
    """The webhook receiver; sometimes it answers after the sender gave up."""

    def __init__(self, inbox: Inbox, rng: random.Random, late_answer: float) -> None:
        super().__init__(secret=SECRET)
        self.inbox, self.rng, self.late_answer = inbox, rng, late_answer

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        self.inbox.received.append(Received(record["delivery"], "webhook", time.time()))
        return super().success(record)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        response = await super()._dispatch(request)
        if response.status == 200 and self.rng.random() < self.late_answer:
            self.inbox.failures["webhook: taken, answered too late"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), HOLD_S)
        return response


@dataclass
class Providers:
    """Both stand-ins, and the task that keeps queueing random failures on them."""

    seed: int
    failure_rate: float = 0.08  # chance, every 0.2 s, that the next request fails
    inbox: Inbox = field(default_factory=Inbox)
    smtp: FakeSmtpServer = field(init=False)
    webhook: ChaosWebhook = field(init=False)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed + 2)
        self.smtp = FakeSmtpServer()
        self.smtp.messages = _Taken(self.inbox)
        self.webhook = ChaosWebhook(self.inbox, self.rng, self.failure_rate / 3)

    def env(self) -> dict[str, str]:
        return {
            "DUBAN_SMTP_HOST": "127.0.0.1",
            "DUBAN_SMTP_PORT": str(self.smtp.port),
            "DUBAN_SMTP_FROM": "duban@chaos.example",
            "DUBAN_WEBHOOK_URL": self.webhook.url,
            "DUBAN_WEBHOOK_SECRET": SECRET,
        }

    async def start(self) -> None:
        await self.smtp.start()
        await self.webhook.start()
        self._task = asyncio.create_task(self._fail_at_random())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.webhook.stop()
        await self.smtp.stop()

    def calm(self) -> None:
        """No more failures (the drain at the end)."""
        self.failure_rate = 0.0
        self.webhook.late_answer = 0.0

    async def _fail_at_random(self) -> None:
        """Every 0.2 s, maybe queue one failure for the next request (none while one waits)."""
        while True:
            await asyncio.sleep(0.2)
            # One failure queued at a time: an idle spell must not pile them up into a
            # run of failures (that would open the channel's circuit).
            plan = self.smtp.plan
            smtp_idle = not any(plan.failures.values()) and not any(plan.delays.values())
            if smtp_idle and self.rng.random() < self.failure_rate:
                self._smtp_failure(self.rng.choice(("451", "451", "550", "hold")))
            webhook_idle = not self.webhook._failures and not self.webhook._delays
            if webhook_idle and self.rng.random() < self.failure_rate:
                self._webhook_failure(self.rng.choice((500, 503, "hold")))

    def _smtp_failure(self, kind: str) -> None:
        self.inbox.failures[f"email: {kind}"] += 1
        if kind == "hold":
            self.smtp.delay_next(stage="mail", seconds=HOLD_S)
        elif kind == "451":
            self.smtp.fail_next(stage="rcpt", reply="451 4.3.0 Try again later")
        else:
            self.smtp.fail_next(stage="rcpt", reply="550 5.1.1 Mailbox unavailable")

    def _webhook_failure(self, kind: int | str) -> None:
        self.inbox.failures[f"webhook: {kind}"] += 1
        if kind == "hold":
            self.webhook.delay_next(seconds=HOLD_S)
        else:
            self.webhook.fail_next(status=int(kind))
