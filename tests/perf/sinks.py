"""Delivery sinks in a process of their own: `python -m tests.perf.sinks`.

Serves, on 127.0.0.1 and random ports, the fake providers of tests/providers (generic
webhook, WeCom, DingTalk, Feishu robots: each verifies requests and signatures like
the real one) and the aiosmtpd SMTP server, plus a plain HTTP sink for Alertmanager's
webhook. Prints one JSON line with the addresses, then serves until stdin closes.
`GET /stats` on the control port answers how many messages each sink accepted and
when the first and last arrived (time.time()).

A process of its own so that receiving does not eat into the measured sender's CPU,
on uvloop with the services' garbage-collector setting, so that it takes as little of
the machine's CPU from the sender (duban or Alertmanager) as it can.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import uvloop
from aiohttp import web

from deploy.local.standins._base import free_socket
from services.runner import settle_garbage_collector
from tests.providers import FakeDingTalk, FakeFeishu, FakeSmtpServer, FakeWebhookReceiver, FakeWeCom


@dataclass
class Arrivals:
    """Count and first/last arrival of one sink."""

    count: int = 0
    first: float | None = None
    last: float | None = None

    def note(self, n: int = 1) -> None:
        """`n` more arrived now."""
        now = time.time()
        self.count += n
        self.first = self.first or now
        self.last = now


class AlertSink:
    """Alertmanager webhook receiver: counts notifications and the alerts in them."""

    def __init__(self) -> None:
        self.notifications = Arrivals()
        self.alerts = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.notifications.note()
        self.alerts += len(body.get("alerts", ()))
        return web.Response(text="ok")


async def serve() -> None:
    """Start every sink, print where they listen, serve until stdin closes."""
    fakes = {
        "webhook": FakeWebhookReceiver(),
        "wecom": FakeWeCom(),
        "dingtalk": FakeDingTalk(),
        "feishu": FakeFeishu(),
    }
    smtp = FakeSmtpServer()
    alerts = AlertSink()
    for fake in fakes.values():
        await fake.start()
    await smtp.start()

    async def stats(_: web.Request) -> web.Response:
        out: dict[str, Any] = {
            name: {"accepted": len(f.accepted), "rejected": len(f.rejections)}
            for name, f in fakes.items()
        }
        out["smtp"] = {"accepted": len(smtp.messages), "rejected": 0}
        out["alertmanager"] = {
            "notifications": alerts.notifications.count,
            "alerts": alerts.alerts,
            "first": alerts.notifications.first,
            "last": alerts.notifications.last,
        }
        return web.json_response(out)

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/alerts", alerts.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    port = sock.getsockname()[1]
    print(json.dumps(addresses(fakes, smtp, port)), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await smtp.stop()
    for fake in fakes.values():
        await fake.stop()


def addresses(fakes: dict[str, Any], smtp: FakeSmtpServer, port: int) -> dict[str, Any]:
    """Where each sink listens, and the secrets the senders must sign with."""
    return {
        "control": f"http://127.0.0.1:{port}",
        "alertmanager_webhook": f"http://127.0.0.1:{port}/alerts",
        "webhook": {"url": fakes["webhook"].url, "secret": fakes["webhook"].secret},
        "wecom": {"url": fakes["wecom"].webhook_url},
        "dingtalk": {"url": fakes["dingtalk"].webhook_url, "secret": fakes["dingtalk"].secret},
        "feishu": {"url": fakes["feishu"].webhook_url, "secret": fakes["feishu"].secret},
        "smtp": {"host": smtp.host, "port": smtp.port},
    }


if __name__ == "__main__":
    settle_garbage_collector()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
        loop.run(serve())
