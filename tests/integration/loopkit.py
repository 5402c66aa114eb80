"""The whole loop of `make run` in one test process, on the real Kafka and Redis: the
engine and notifier on the example config, every provider stand-in (runner of
`python -m deploy.local.standins`), the ack service with its SMS callbacks, and the
inbox page following the receipts topics. Used by test_inbox_loop.py."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from faststream.kafka import KafkaBroker
from pydantic import SecretStr
from redis.asyncio import Redis

from deploy.local.inbox import Inbox, create_inbox_app
from deploy.local.inbox_data import MailFolder, Spool, directory_names
from deploy.local.inbox_receipts import Receipts, following
from deploy.local.standins.runner import CALLBACK_TOKEN, Served, build, environment
from deploy.local.standins.spool import Spool as SpoolWriter
from services.ack.app import create_ack_app
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
ACK_SECRET = "inbox-loop-ack-secret-0123456789"
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass
class Loop:
    """What a test drives: the URLs, the spool, the receipts the inbox has seen."""

    settings: Settings
    inbox_url: str
    ack_url: str
    spool: Path
    receipts: Receipts
    served: list[Served]

    def spooled(self) -> list[dict[str, Any]]:
        if not self.spool.exists():
            return []
        return [json.loads(x) for x in self.spool.read_text(encoding="utf-8").splitlines()]


async def _site(app: web.Application, stack: contextlib.AsyncExitStack) -> str:
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _ack_service(
    settings: Settings, clock: FakeClock, stack: contextlib.AsyncExitStack
) -> str:
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-ack-loop")
    await broker.start()
    stack.push_async_callback(broker.stop)
    redis = Redis.from_url(settings.redis_url)
    stack.push_async_callback(redis.aclose)
    return await _site(create_ack_app(settings, broker, clock=clock, redis=redis), stack)


async def _standins(spool: Path, ack_url: str, stack: contextlib.AsyncExitStack) -> list[Served]:
    served = build(SpoolWriter(spool), base_port=0, ack_base_url=ack_url)
    for item in served:
        item.fake.port = 0  # free ports: `make run` may hold the fixed ones
        await item.fake.start()
        stack.push_async_callback(item.fake.stop)
    return served


@contextlib.asynccontextmanager
async def running_loop(
    settings: Settings,
    clock: FakeClock,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    mail_dir: Path | None = None,
) -> AsyncIterator[Loop]:
    """Everything of `make run` but Kafka, Redis and the mail catcher, which are the real
    stack's (the inbox reads `mail_dir`, the catcher's folder)."""
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DUBAN_ACK_SECRET", ACK_SECRET)
    spool = tmp / "inbox" / "messages.jsonl"
    async with contextlib.AsyncExitStack() as stack:
        # The ack service's port first: the stand-ins push reports to it, links point at it.
        app_settings = settings.model_copy(update={"callback_token": SecretStr(CALLBACK_TOKEN)})
        ack_url = await _ack_service(app_settings, clock, stack)
        served = await _standins(spool, ack_url, stack)
        for name, value in environment(served, ack_url).items():
            monkeypatch.setenv(name, value)
        app_settings = app_settings.model_copy(update={"ack_base_url": ack_url})
        receipts = Receipts()
        mail = MailFolder(mail_dir or tmp / "mail")
        inbox = Inbox(Spool(spool), mail, receipts, directory_names())
        inbox_url = await _site(create_inbox_app(inbox), stack)
        topics = [settings.topics.notice_receipts, settings.topics.notice_acks]
        await stack.enter_async_context(following(receipts, settings.kafka_bootstrap, topics))
        engine = create_engine(app_settings, clock=clock)
        notifier = create_notifier(app_settings, clock=clock)
        await stack.enter_async_context(running(engine.app))
        await stack.enter_async_context(running(notifier.app))
        yield Loop(app_settings, inbox_url, ack_url, spool, receipts, served)


def example_event(name: str, at: datetime, **data: Any) -> dict[str, Any]:
    """An example event of contracts/examples with a new id, `at` as its time and `data`
    merged into its data."""
    event = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    event["id"] = str(uuid.uuid4())
    event["time"] = at.isoformat()
    event["data"].update(data)
    return event


async def publish_example(
    settings: Settings,
    clock: FakeClock,
    register_unit: Callable[[dict[str, Any]], Awaitable[None]],
    publish: Callable[[str, Any], Awaitable[None]],
) -> str:
    """What deploy/local/publish_example.py does: the example unit, then a major hazard
    found now with a deadline in 30 days. Returns the hazard id."""
    now = clock.now()
    await register_unit(example_event("unit.upserted", now - timedelta(days=1)))
    hazard_id = f"HZ-LOOP-{uuid.uuid4().hex[:6]}"
    deadline = (now + timedelta(days=30)).date().isoformat()
    hazard = example_event(
        "hazard.reported", now, hazard_id=hazard_id, found_at=now.isoformat(), deadline=deadline
    )
    hazard["subject"] = hazard_id
    await publish(settings.topics.hazard_events, hazard)
    return hazard_id
