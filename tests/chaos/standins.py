"""The chaos run's providers: the SMTP, webhook, Feishu app and Aliyun SMS stand-ins,
failing at random, and the ack service their SMS delivery reports go to.

Each accepted message is recorded with its delivery key (the email's X-Duban-Delivery
header, the webhook's X-Duban-Delivery header, the SMS's OutId; Feishu's request uuid,
which the oracle maps back to its delivery) and the wall-clock moment it arrived.
Failures are drawn from the seed: SMTP 4xx (retryable) and 5xx (permanent: the notice
falls back to the next channel) replies, SMTP replies held past the client's timeout
before the message is taken, queued at random moments; each webhook, Feishu and Aliyun
request fails with probability ``failure_rate`` (so a channel little used fails no more
often per request than a busy one): webhook HTTP 500/503, requests held past the timeout
before they are taken; Feishu HTTP 500/503, its rate limits (99991400 with HTTP 429,
230020), requests held; Aliyun SMS as tests/chaos/sms.py says. Some webhook and Feishu
requests are taken and answered after the client gave up (the webhook receiver
de-duplicates by the delivery key, as the webhook contract asks; Feishu sends one message
per uuid, as it documents).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from deploy.local.standins import FakeFeishuApp, FakeWebhookReceiver
from deploy.local.standins.feishu_app import SEND_PATH
from deploy.local.standins.smtp import FakeSmtpServer, ReceivedMail
from tests.chaos.inbox import Inbox, Received
from tests.chaos.replicas import Replica, free_ports
from tests.chaos.sms import ChaosAliyunSms

HOLD_S = 8.0  # longer than the chaos channels' timeout_s (5)
REQUEST_FAILURES = 0.15  # the chance that a webhook, Feishu or Aliyun request fails
SECRET = "chaos-webhook-secret"
CALLBACK_TOKEN = "chaos-callback-token"
SIGN_NAME = "安全督办"

__all__ = ["Inbox", "Providers", "Received"]


class _Taken(list[ReceivedMail]):
    """The SMTP stand-in's message list, noting each message in the inbox as it comes."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    def append(self, mail: ReceivedMail) -> None:
        super().append(mail)
        key = str(mail.message["X-Duban-Delivery"])
        self.inbox.received.append(Received(key, "email", time.time()))


def _maybe_fail(stand_in: Any, name: str, kinds: tuple[str, ...]) -> None:
    """With probability failure_rate, make this request fail as one of ``kinds`` says:
    an HTTP status, "hold" (held past the client's timeout, then taken) or a code."""
    if stand_in.rng.random() >= stand_in.failure_rate:
        return
    kind = stand_in.rng.choice(kinds)
    stand_in.inbox.failures[f"{name}: {kind}"] += 1
    if kind == "hold":
        stand_in.delay_next(seconds=HOLD_S)
    elif kind in ("500", "503"):
        stand_in.fail_next(status=int(kind))
    else:  # Feishu's rate limits: 99991400 answers HTTP 429 with x-ogw-ratelimit-reset
        stand_in.fail_next(code=int(kind))


async def _late(stand_in: Any, response: web.StreamResponse, name: str) -> None:
    """Sometimes hold a taken request's answer until after the sender gave up."""
    if response.status == 200 and stand_in.rng.random() < stand_in.late_answer:
        stand_in.inbox.failures[f"{name}: taken, answered too late"] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stand_in._release.wait(), HOLD_S)


class ChaosWebhook(FakeWebhookReceiver):
    """The webhook receiver; sometimes it answers after the sender gave up."""

    def __init__(self, inbox: Inbox, rng: random.Random, late_answer: float) -> None:
        super().__init__(secret=SECRET)
        self.inbox, self.rng, self.late_answer = inbox, rng, late_answer
        self.failure_rate = REQUEST_FAILURES

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        self.inbox.received.append(Received(record["delivery"], "webhook", time.time()))
        return super().success(record)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        _maybe_fail(self, "webhook", ("500", "503", "hold"))
        response = await super()._dispatch(request)
        await _late(self, response, "webhook")
        return response


class ChaosFeishuApp(FakeFeishuApp):
    """Feishu app messages; a message per new uuid; sometimes it answers late."""

    def __init__(self, inbox: Inbox, rng: random.Random, late_answer: float) -> None:
        super().__init__()
        self.inbox, self.rng, self.late_answer = inbox, rng, late_answer
        self.failure_rate = REQUEST_FAILURES

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        shown = len(self.delivered)
        response = super().success(record)
        if len(self.delivered) > shown:  # a uuid it had not seen: one message to the person
            self.inbox.received.append(Received(record["uuid"], "feishu_app", time.time()))
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path != SEND_PATH:  # the token endpoint
            return await super()._dispatch(request)
        _maybe_fail(self, "feishu_app", ("500", "503", "hold", "99991400", "230020"))
        response = await super()._dispatch(request)
        await _late(self, response, "feishu_app")
        return response


@dataclass
class Providers:
    """The stand-ins, the ack service, and the task that keeps queueing random failures."""

    seed: int
    failure_rate: float = 0.08  # chance, every 0.2 s, that the next SMTP delivery fails
    inbox: Inbox = field(default_factory=Inbox)
    smtp: FakeSmtpServer = field(init=False)
    webhook: ChaosWebhook = field(init=False)
    feishu: ChaosFeishuApp = field(init=False)
    aliyun: ChaosAliyunSms = field(init=False)
    ack: Replica | None = None
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed + 2)
        self.ack_port = free_ports(1)[0]
        self.ack_secret = secrets.token_urlsafe(32)
        self.smtp = FakeSmtpServer()
        self.smtp.messages = _Taken(self.inbox)
        self.webhook = ChaosWebhook(self.inbox, self.rng, self.failure_rate / 3)
        self.feishu = ChaosFeishuApp(self.inbox, self.rng, self.failure_rate / 3)
        callbacks = f"http://127.0.0.1:{self.ack_port}/callbacks/{{provider}}/{{report}}"
        report_url = f"{callbacks}?token={CALLBACK_TOKEN}"
        self.aliyun = ChaosAliyunSms(self.inbox, self.rng, report_url, REQUEST_FAILURES)

    def env(self) -> dict[str, str]:
        return {
            "DUBAN_SMTP_HOST": "127.0.0.1",
            "DUBAN_SMTP_PORT": str(self.smtp.port),
            "DUBAN_SMTP_FROM": "duban@chaos.example",
            "DUBAN_WEBHOOK_URL": self.webhook.url,
            "DUBAN_WEBHOOK_SECRET": SECRET,
            "DUBAN_FEISHU_API_BASE": self.feishu.base_url,
            "DUBAN_FEISHU_APP_ID": self.feishu.app_id,
            "DUBAN_FEISHU_APP_SECRET": self.feishu.app_secret,
            "DUBAN_ALIYUN_SMS_ENDPOINT": self.aliyun.endpoint,
            "DUBAN_ALIYUN_ACCESS_KEY_ID": self.aliyun.access_key_id,
            "DUBAN_ALIYUN_ACCESS_KEY_SECRET": self.aliyun.access_key_secret,
            "DUBAN_ALIYUN_SMS_SIGN_NAME": SIGN_NAME,
            "DUBAN_CALLBACK_TOKEN": CALLBACK_TOKEN,
            "DUBAN_ACK_SECRET": self.ack_secret,
            "DUBAN_ACK_HTTP_PORT": str(self.ack_port),
            "DUBAN_ACK_BASE_URL": f"http://127.0.0.1:{self.ack_port}",
        }

    async def start(self) -> None:
        for stand_in in (self.smtp, self.webhook, self.feishu, self.aliyun):
            await stand_in.start()
        self._task = asyncio.create_task(self._fail_at_random())

    def start_ack(self, config: Path, env: dict[str, str], logs: Path) -> None:
        """`duban run ack` on ack_port: the SMS delivery reports' receiver (not a replica
        the faults pick; the reports it misses are pushed again)."""
        self.ack = Replica("ack", "ack", self.ack_port, config, env, logs / "ack.log")
        self.ack.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.ack is not None:
            self.ack.stop()
        for stand_in in (self.aliyun, self.feishu, self.webhook, self.smtp):
            await stand_in.stop()

    def calm(self) -> None:
        """No more failures (the drain at the end)."""
        self.failure_rate = 0.0
        for stand_in in (self.webhook, self.feishu, self.aliyun):
            stand_in.failure_rate = 0.0
        self.webhook.late_answer = self.feishu.late_answer = 0.0

    async def _fail_at_random(self) -> None:
        """Every 0.2 s, maybe queue one SMTP failure (none while one waits: an idle spell
        must not pile them up into a run of failures that opens the channel's circuit)."""
        while True:
            await asyncio.sleep(0.2)
            plan = self.smtp.plan
            idle = not any(plan.failures.values()) and not any(plan.delays.values())
            if idle and self.rng.random() < self.failure_rate:
                self._smtp_failure(self.rng.choice(("451", "451", "550", "hold")))

    def _smtp_failure(self, kind: str) -> None:
        self.inbox.failures[f"email: {kind}"] += 1
        if kind == "hold":
            self.smtp.delay_next(stage="mail", seconds=HOLD_S)
        elif kind == "451":
            self.smtp.fail_next(stage="rcpt", reply="451 4.3.0 Try again later")
        else:
            self.smtp.fail_next(stage="rcpt", reply="550 5.1.1 Mailbox unavailable")
