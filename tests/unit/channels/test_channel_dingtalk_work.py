"""DingTalk work notifications against the DingTalk work-notice stand-in (tokens in memory)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.notifier.channels.apptoken import CachedToken, MemoryTokenStore
from services.notifier.channels.dingtalk_work import DingTalkWorkChannel, DingTalkWorkSettings
from tests.providers import FakeDingTalkWork
from tests.unit.channels._appsupport import ACK_URL, Clock, app_message
from tests.unit.channels._support import expect_error


def channel(
    fake: FakeDingTalkWork,
    *,
    tokens: MemoryTokenStore | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> DingTalkWorkChannel:
    values: dict[str, Any] = {
        "app_key": fake.app_key,
        "app_secret": fake.app_secret,
        "agent_id": fake.agent_id,
        "api_base": fake.base_url,
        "timeout_s": 5.0,
    }
    return DingTalkWorkChannel(
        DingTalkWorkSettings(**{**values, **settings}),
        tokens=tokens,
        **({"clock": clock} if clock else {}),
    )


async def test_an_action_card_goes_to_the_userid_with_the_ack_button(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    ch = channel(fake_dingtalk_work)
    result = await ch.send(app_message())
    await ch.aclose()
    [token_request] = fake_dingtalk_work.token_requests
    assert token_request.method == "GET" and token_request.path == "/gettoken"
    assert token_request.query == {
        "appkey": "ding-test-appkey",
        "appsecret": "dingtalk-app-test-secret",
    }
    [body] = fake_dingtalk_work.accepted
    assert body["agent_id"] == 2000001 and body["userid_list"] == "manager4471"
    card = body["msg"]["action_card"]
    assert body["msg"]["msgtype"] == "action_card"
    assert (card["single_title"], card["single_url"]) == ("查看并确认", ACK_URL)
    assert card["title"] == app_message().subject and card["markdown"] == app_message().markdown
    assert fake_dingtalk_work.rejections == [] and len(fake_dingtalk_work.delivered) == 1
    assert result.provider_message_id == "1" and "task accepted" in result.provider_answer


async def test_without_an_ack_page_it_is_markdown_cut_to_fit(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    ch = channel(fake_dingtalk_work)
    long = "**隐患**\n" + "“危化品仓库”\n" * 400  # quotes and line breaks grow in JSON
    await ch.send(app_message(ack_url=None, markdown=long))
    await ch.aclose()
    [body] = fake_dingtalk_work.accepted
    msg = body["msg"]
    assert msg["msgtype"] == "markdown" and msg["markdown"]["text"].endswith("…")
    assert len(json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()) <= 2048
    assert fake_dingtalk_work.rejections == []


async def test_two_channels_sharing_the_store_fetch_one_token(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    store = MemoryTokenStore()
    one, two = channel(fake_dingtalk_work, tokens=store), channel(fake_dingtalk_work, tokens=store)
    await asyncio.gather(
        one.send(app_message(to_dingtalk_userid="u1")),
        two.send(app_message(to_dingtalk_userid="u2")),
    )
    await one.aclose()
    await two.aclose()
    assert len(fake_dingtalk_work.token_requests) == 1 and len(fake_dingtalk_work.delivered) == 2


async def test_an_unknown_token_answered_with_errcode_88_is_replaced(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    store = MemoryTokenStore()
    ch = channel(fake_dingtalk_work, tokens=store)
    forgotten = CachedToken("revoked-token-value", 4e9, 4e9)
    await store.write(ch.tokens.app, forgotten, 0.0)
    await ch.send(app_message())
    await ch.aclose()
    assert fake_dingtalk_work.rejections == ["access_token refused (40014)"]
    assert len(fake_dingtalk_work.token_requests) == 1 and len(fake_dingtalk_work.delivered) == 1


async def test_an_expired_token_is_replaced(fake_dingtalk_work: FakeDingTalkWork) -> None:
    ch = channel(fake_dingtalk_work)
    await ch.send(app_message())
    fake_dingtalk_work.expire_tokens()
    await ch.send(app_message(markdown="第二条"))
    await ch.aclose()
    assert fake_dingtalk_work.rejections == ["access_token expired"]
    assert len(fake_dingtalk_work.token_requests) == 2 and len(fake_dingtalk_work.delivered) == 2


async def test_the_token_is_fetched_again_before_it_expires_and_extended(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    clock = Clock()
    fake_dingtalk_work.clock = clock
    ch = channel(fake_dingtalk_work, clock=clock)
    await ch.send(app_message())
    clock.advance(6901)
    await ch.send(app_message(markdown="第二条"))
    clock.advance(6000)  # the same token, extended by the second request: still fresh
    await ch.send(app_message(markdown="第三条"))
    await ch.aclose()
    assert len(fake_dingtalk_work.token_requests) == 2 and len(fake_dingtalk_work.tokens) == 1
    assert fake_dingtalk_work.rejections == []


@pytest.mark.parametrize(("code", "wait"), [(90002, 60.0), (90006, 60.0), (-1, None)])
async def test_throttling_and_busy_codes_are_retryable(
    fake_dingtalk_work: FakeDingTalkWork, code: int, wait: float | None
) -> None:
    fake_dingtalk_work.fail_next(code=code)
    err = await expect_error(channel(fake_dingtalk_work), app_message())
    assert err.retryable and err.provider_code == str(code) and err.retry_after_s == wait


@pytest.mark.parametrize("code", [40003, 60121, 60111, 40008])
async def test_unknown_users_and_other_codes_are_permanent(
    fake_dingtalk_work: FakeDingTalkWork, code: int
) -> None:
    fake_dingtalk_work.fail_next(code=code)
    err = await expect_error(channel(fake_dingtalk_work), app_message())
    assert not err.retryable and err.provider_code == str(code)


async def test_an_authentication_failure_other_than_the_token_is_permanent(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    fake_dingtalk_work.fail_next(code=88, sub_code="60011", sub_msg="没有调用该接口的权限")
    err = await expect_error(channel(fake_dingtalk_work), app_message())
    assert (
        not err.retryable and err.provider_code == "60011" and "没有调用该接口的权限" in err.reason
    )
    assert len(fake_dingtalk_work.token_requests) == 1  # not mistaken for a token refusal


async def test_a_wrong_agent_id_and_a_wrong_secret_are_permanent(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    agent = await expect_error(channel(fake_dingtalk_work, agent_id=1), app_message())
    secret = await expect_error(
        channel(fake_dingtalk_work, app_secret="not-the-secret-9"), app_message()
    )
    assert not agent.retryable and agent.provider_code == "40056"
    assert not secret.retryable and secret.provider_code == "40089"
    assert "not-the-secret-9" not in str(secret)


async def test_a_person_without_a_userid_fails_before_any_request(
    fake_dingtalk_work: FakeDingTalkWork,
) -> None:
    err = await expect_error(channel(fake_dingtalk_work), app_message(to_dingtalk_userid=" "))
    assert not err.retryable and "dingtalk_userid" in err.reason
    assert fake_dingtalk_work.requests == []
