from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import pytest

from deploy.local.standins._crypto import rfc2104_hmac
from services.notifier.channels.dingtalk import DingTalkChannel, DingTalkSettings
from services.notifier.channels.mentions import Mention
from tests.providers import FakeDingTalk, sample_message
from tests.unit.channels._support import (
    robot_channel,
    send_expecting_error,
    send_past_timeout,
    send_with_failure,
)


def channel(fake: FakeDingTalk, **options: Any) -> DingTalkChannel:
    return robot_channel(DingTalkChannel, DingTalkSettings, fake, **options)


async def test_signed_markdown_with_mentions(fake_dingtalk: FakeDingTalk) -> None:
    ch = channel(fake_dingtalk)
    result = await ch.send(sample_message(at_mobiles=("13800138000",)))
    await ch.aclose()
    assert result.provider_answer == "errcode=0 ok"
    assert fake_dingtalk.rejections == []
    [body] = fake_dingtalk.accepted
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == sample_message().subject
    assert body["markdown"]["text"].startswith(sample_message().markdown or "")
    assert body["at"] == {"atMobiles": ["13800138000"], "isAtAll": False}
    assert body["_mentioned"] == ["13800138000"]  # "@13800138000" is in the text
    request = fake_dingtalk.requests[0]
    assert request.query["access_token"] == fake_dingtalk.access_token
    assert {"timestamp", "sign"} <= request.query.keys()


async def test_sign_with_plus_and_slash_is_url_encoded(fake_dingtalk: FakeDingTalk) -> None:
    """Pick a timestamp whose signature contains '+' and '/': unencoded, the '+'
    would reach the server as a space and the signature would not match."""
    assert fake_dingtalk.secret is not None
    secret = fake_dingtalk.secret.encode()
    ts_ms = int(time.time() * 1000)
    while True:
        sign = base64.b64encode(rfc2104_hmac("sha256", secret, f"{ts_ms}\n".encode() + secret))
        if b"+" in sign and b"/" in sign:
            break
        ts_ms -= 1
    ch = channel(fake_dingtalk, clock=ts_ms / 1000)
    await ch.send(sample_message())
    await ch.aclose()
    assert len(fake_dingtalk.accepted) == 1
    raw_query = fake_dingtalk.requests[0].query["sign"]
    assert raw_query == sign.decode()


async def test_text_message_when_no_markdown(fake_dingtalk: FakeDingTalk) -> None:
    ch = channel(fake_dingtalk)
    await ch.send(sample_message(markdown=None, at_mobiles=("13800138000",)))
    await ch.aclose()
    [body] = fake_dingtalk.accepted
    assert body["msgtype"] == "text"
    assert body["text"]["content"].startswith(sample_message().subject + "\n")
    assert body["text"]["content"].endswith("@13800138000")


async def test_unsigned_robot() -> None:
    async with FakeDingTalk(secret=None) as fake:
        ch = DingTalkChannel(DingTalkSettings(webhook_url=fake.webhook_url))
        await ch.send(sample_message())
        await ch.aclose()
        assert len(fake.accepted) == 1 and "sign" not in fake.requests[0].query


async def test_wrong_secret_is_permanent(fake_dingtalk: FakeDingTalk) -> None:
    err = await send_expecting_error(channel(fake_dingtalk, secret="SECwrong-secret"))
    assert not err.retryable and err.provider_code == "310000"
    assert "SECwrong-secret" not in str(err)
    assert fake_dingtalk.rejections == ["signature mismatch"]


async def test_stale_timestamp_is_permanent(fake_dingtalk: FakeDingTalk) -> None:
    err = await send_expecting_error(channel(fake_dingtalk, clock=time.time() - 2 * 3600))
    assert not err.retryable and err.provider_code == "310000"
    assert fake_dingtalk.rejections == ["timestamp too old/new"]


async def test_security_keywords() -> None:
    async with FakeDingTalk(keywords=("隐患",)) as fake:
        ch = DingTalkChannel(DingTalkSettings(webhook_url=fake.webhook_url, secret=fake.secret))
        await ch.send(sample_message())
        await ch.aclose()
        assert len(fake.accepted) == 1
    async with FakeDingTalk(keywords=("告警",)) as fake:
        ch = DingTalkChannel(DingTalkSettings(webhook_url=fake.webhook_url, secret=fake.secret))
        err = await send_expecting_error(ch)
        assert not err.retryable and err.provider_code == "310000"
        assert "keywords" in err.reason


async def test_wrong_token_is_permanent(fake_dingtalk: FakeDingTalk) -> None:
    url = fake_dingtalk.webhook_url.replace(fake_dingtalk.access_token, "nope")
    ch = DingTalkChannel(DingTalkSettings(webhook_url=url, secret=fake_dingtalk.secret))
    err = await send_expecting_error(ch)
    assert not err.retryable and err.provider_code == "300001"


@pytest.mark.parametrize("code", [130101, 410100, -1])
async def test_throttling_is_retryable(fake_dingtalk: FakeDingTalk, code: int) -> None:
    err = await send_with_failure(fake_dingtalk, channel(fake_dingtalk), code=code)
    assert err.retryable and err.provider_code == str(code)


@pytest.mark.parametrize("code", [310000, 400101, 400102, 400105, 430102])
async def test_permanent_codes(fake_dingtalk: FakeDingTalk, code: int) -> None:
    err = await send_with_failure(fake_dingtalk, channel(fake_dingtalk), code=code)
    assert not err.retryable and err.provider_code == str(code)


async def test_http_5xx_is_retryable(fake_dingtalk: FakeDingTalk) -> None:
    err = await send_with_failure(fake_dingtalk, channel(fake_dingtalk), status=503)
    assert err.retryable and err.provider_code == "HTTP 503"


async def test_timeout_is_retryable(fake_dingtalk: FakeDingTalk) -> None:
    err = await send_past_timeout(fake_dingtalk, channel(fake_dingtalk, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason


# ------------------------------------------------------------------ group posts: mentions


async def test_userids_first_then_mobiles_each_once(fake_dingtalk: FakeDingTalk) -> None:
    people = (
        Mention(name="张三", dingtalk_userid="manager0010", mobile="13800000010"),
        Mention(name="李四", dingtalk_userid="bad id", mobile="+8613800000011"),
        Mention(name="王五", mobile="not a mobile"),
    )
    ch = channel(fake_dingtalk)
    await ch.send(sample_message(mentions=people, at_mobiles=("13800000010",)))
    await ch.aclose()
    [body] = fake_dingtalk.accepted
    assert body["at"] == {
        "atMobiles": ["13800000011"],  # 张三 is mentioned by userid, not again by mobile
        "atUserIds": ["manager0010"],
        "isAtAll": False,
    }
    assert body["markdown"]["text"].endswith("\n\n@manager0010 @13800000011")
    assert body["_mentioned"] == ["13800000011", "manager0010"]


async def test_an_escaped_at_in_event_text_is_not_the_mention(fake_dingtalk: FakeDingTalk) -> None:
    ch = channel(fake_dingtalk)
    markdown = "隐患 \\@13800000001 已逾期"  # md_escape wrote the event's "@" as "\@"
    await ch.send(sample_message(markdown=markdown, mentions=(Mention(mobile="13800000001"),)))
    await ch.aclose()
    assert fake_dingtalk.accepted[0]["markdown"]["text"].endswith("已逾期\n\n@13800000001")


async def test_standin_checks_the_at_block(fake_dingtalk: FakeDingTalk) -> None:
    ch = channel(fake_dingtalk)
    bad = {"msgtype": "text", "text": {"content": "x"}, "at": {"atUserIds": "manager0010"}}
    async with aiohttp.ClientSession() as session:
        async with session.post(ch.signed_url(), json=bad) as response:
            assert (await response.json())["errcode"] == 400105
        listed_only = {
            "msgtype": "text",
            "text": {"content": "请 @manager0010 关注"},
            "at": {"atUserIds": ["manager0010", "leader0003"], "atMobiles": ["138"]},
        }
        async with session.post(ch.signed_url(), json=listed_only) as response:
            assert (await response.json())["errcode"] == 0
    await ch.aclose()
    assert fake_dingtalk.rejections == ["bad at block: not a list of strings"]
    [body] = fake_dingtalk.accepted
    assert body["_mentioned"] == ["manager0010"]  # the others lack their "@" in the text
    assert body["_not_mentioned"] == ["138", "leader0003"]
