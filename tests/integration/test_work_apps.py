"""The personal work-chat apps on the real stack: access tokens shared by replicas through
Redis, and the engine's notices delivered to a person's WeCom by the notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis

from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.notifier.channels.wecom_app import WeComAppChannel, WeComAppSettings
from services.notifier.tokens import RedisTokenStore
from services.runner import running
from services.settings import Settings
from services.store.keys import app_token_key
from tests.fakes import FakeClock
from tests.helpers import at
from tests.integration.conftest import TEST_REDIS_DB, wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    notice,
    notice_publisher,
    outcomes,
    receipts,
    use,
)
from tests.providers import FakeDingTalkWork, FakeFeishuApp, FakeWeComApp
from tests.unit.channels._appsupport import app_message

ACK_SECRET = "ack-secret-for-the-work-app-test-0123456789"


@asynccontextmanager
async def replicas(
    redis: Redis, fake: FakeWeComApp, count: int = 2
) -> AsyncIterator[list[WeComAppChannel]]:
    """`count` WeCom app channels as separate notifier replicas would hold them: each its
    own Redis client, on the test's database (the one ``redis`` uses)."""
    where = redis.connection_pool.connection_kwargs
    assert where["db"] == TEST_REDIS_DB
    clients = [Redis(connection_pool=ConnectionPool(**where)) for _ in range(count)]
    settings = WeComAppSettings(
        corp_id=fake.corp_id, agent_id=fake.agent_id, secret=fake.secret, api_base=fake.base_url
    )
    channels = [WeComAppChannel(settings, tokens=RedisTokenStore(c)) for c in clients]
    try:
        yield channels
    finally:
        for channel in channels:
            await channel.aclose()
        for client in clients:
            await client.aclose()


async def test_two_replicas_fetch_one_token_and_share_it_through_redis(redis: Redis) -> None:
    async with FakeWeComApp() as fake, replicas(redis, fake) as (one, two):
        await asyncio.gather(
            one.send(app_message(to_wecom_userid="u1")),
            two.send(app_message(to_wecom_userid="u2")),
        )
        await two.send(app_message(to_wecom_userid="u3"))
        key = app_token_key(one.tokens.app)
        stored, ttl_ms = await redis.hget(key, "v"), await redis.pttl(key)
    assert len(fake.token_requests) == 1 and fake.rejections == []
    assert [m["touser"] for m in fake.delivered][-1] == "u3" and len(fake.delivered) == 3
    assert stored is not None and stored.decode() in fake.tokens
    assert 0 < ttl_ms <= 7200 * 1000
    assert await redis.exists(f"{key}:lock") == 0


async def test_a_token_one_replica_replaced_is_used_by_the_other(redis: Redis) -> None:
    async with FakeWeComApp() as fake, replicas(redis, fake) as (one, two):
        await one.send(app_message(to_wecom_userid="u1"))
        fake.expire_tokens()  # WeCom revoked the token both replicas share
        await two.send(app_message(to_wecom_userid="u2"))  # refused, replaced, sent again
        await one.send(app_message(to_wecom_userid="u3"))  # reads the new one from Redis
    assert fake.rejections == ["access_token expired"]
    assert len(fake.token_requests) == 2 and len(fake.delivered) == 3


IDS = {
    "wecom_userid": "WangJianGuo",
    "dingtalk_userid": "0412345678",
    "feishu_open_id": "ou_0a1b2c3d4e5f",
}


def wire(channel: str, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the example channels.yaml's variables of `channel` at its stand-in."""
    variables = {
        "wecom_app": lambda: {
            "WECOM_CORP_ID": fake.corp_id,
            "WECOM_AGENT_ID": str(fake.agent_id),
            "WECOM_APP_SECRET": fake.secret,
            "WECOM_API_BASE": fake.base_url,
        },
        "dingtalk_work": lambda: {
            "DINGTALK_APP_KEY": fake.app_key,
            "DINGTALK_APP_SECRET": fake.app_secret,
            "DINGTALK_AGENT_ID": str(fake.agent_id),
            "DINGTALK_API_BASE": fake.base_url,
        },
        "feishu_app": lambda: {
            "FEISHU_APP_ID": fake.app_id,
            "FEISHU_APP_SECRET": fake.app_secret,
            "FEISHU_API_BASE": fake.base_url,
        },
    }[channel]()
    use(monkeypatch, ACK_SECRET=ACK_SECRET, **variables)


@pytest.mark.parametrize(
    ("channel", "make"),
    [
        ("wecom_app", FakeWeComApp),
        ("dingtalk_work", FakeDingTalkWork),
        ("feishu_app", FakeFeishuApp),
    ],
)
async def test_a_notice_reaches_the_person_on_each_app_with_one_token_in_redis(
    channel: str,
    make: Any,
    settings: Settings,
    clock: FakeClock,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make() as fake:
        wire(channel, fake, monkeypatch)
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            for n in (1, 2):
                item = notice(n, channel, "email", kind="escalation", action="letter")
                person = item.recipient.model_copy(update=IDS)
                await send(item.model_copy(update={"recipient": person}))
            await wait_for(lambda: len(fake.delivered) == 2, what=f"two {channel} messages")
            found = await receipts(settings, 2)
        stored = [k async for k in redis.scan_iter("duban:apptoken:*")]
    assert fake.rejections == [] and len(fake.token_requests) == 1 and len(stored) == 1
    assert outcomes(found) == [("notice.delivered", channel, 1)] * 2


def use_wecom_app(monkeypatch: pytest.MonkeyPatch, fake: FakeWeComApp) -> None:
    use(
        monkeypatch,
        WECOM_CORP_ID=fake.corp_id,
        WECOM_AGENT_ID=str(fake.agent_id),
        WECOM_APP_SECRET=fake.secret,
        WECOM_API_BASE=fake.base_url,
        ACK_SECRET=ACK_SECRET,
    )


def digests_to(fake: FakeWeComApp, userid: str) -> list[dict[str, Any]]:
    return [
        m
        for m in fake.delivered
        if m["touser"] == userid and "周报" in m.get("textcard", {}).get("title", "")
    ]


async def test_the_engines_digest_reaches_the_office_on_its_own_wecom_with_a_card(
    settings: Settings,
    clock: FakeClock,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeWeComApp() as fake:
        use_wecom_app(monkeypatch, fake)
        engine = create_engine(settings, clock=clock)
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(engine.app), running(notifier.app):
            await wait_for(lambda: redis.exists("duban:digest:weekly"), what="digest bootstrap")
            clock.set(at("2026-09-07 09:00"))  # Monday: the weekly digest is due
            await wait_for(lambda: digests_to(fake, "AnWeiBanZhiBan"), what="the digest on WeCom")
    [card] = digests_to(fake, "AnWeiBanZhiBan")
    assert card["msgtype"] == "textcard" and card["agentid"] == fake.agent_id
    assert card["textcard"]["url"].startswith(settings.ack_base_url.rstrip("/") + "/ack?t=")
    assert card["textcard"]["btntxt"] == "查看确认"
    assert fake.rejections == [] and len(fake.token_requests) == 1
