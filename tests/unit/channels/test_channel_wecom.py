from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from services.notifier.channels.mentions import Mention
from services.notifier.channels.wecom import WeComChannel, WeComSettings
from tests.providers import FakeWeCom, sample_message
from tests.providers.messages import HAZARD
from tests.unit.channels._support import (
    send_expecting_error,
    send_past_timeout,
    send_with_failure,
)


def channel(url: str, timeout_s: float = 5.0) -> WeComChannel:
    return WeComChannel(WeComSettings(webhook_url=url, timeout_s=timeout_s))


async def test_markdown_message(fake_wecom: FakeWeCom) -> None:
    ch = channel(fake_wecom.webhook_url)
    result = await ch.send(sample_message())
    await ch.aclose()
    assert result.provider_answer == "errcode=0 ok"
    [body] = fake_wecom.accepted
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("**【隐患整改提醒】")
    assert sample_message().markdown in content and HAZARD in content


async def test_mentions_use_text_with_mobile_list(fake_wecom: FakeWeCom) -> None:
    ch = channel(fake_wecom.webhook_url)
    await ch.send(sample_message(at_mobiles=("13800138000", "13912345678")))
    await ch.aclose()
    [body] = fake_wecom.accepted
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800138000", "13912345678"]
    assert body["text"]["content"] == f"{sample_message().subject}\n{sample_message().text}"


async def test_text_when_no_markdown_and_long_text_is_cut(fake_wecom: FakeWeCom) -> None:
    ch = channel(fake_wecom.webhook_url)
    await ch.send(sample_message(markdown=None, text="隐患" * 2000))
    await ch.aclose()
    [body] = fake_wecom.accepted
    content = body["text"]["content"]
    assert body["msgtype"] == "text" and "mentioned_mobile_list" not in body["text"]
    assert len(content.encode()) <= 2048 and content.endswith("…")


async def test_invalid_key_is_permanent_and_key_not_leaked(fake_wecom: FakeWeCom) -> None:
    url = fake_wecom.webhook_url.replace(fake_wecom.key, "WRONG-KEY-123")
    err = await send_expecting_error(channel(url))
    assert not err.retryable and err.provider_code == "93000"
    assert "WRONG-KEY-123" not in str(err) and "invalid webhook url" in str(err)
    assert fake_wecom.rejections == ["invalid webhook key"]


async def test_frequency_limit_is_retryable(fake_wecom: FakeWeCom) -> None:
    err = await send_with_failure(fake_wecom, channel(fake_wecom.webhook_url), code=45009)
    assert err.retryable and err.provider_code == "45009" and err.retry_after_s == 60


@pytest.mark.parametrize("code", [-1, 45033])
async def test_busy_codes_are_retryable(fake_wecom: FakeWeCom, code: int) -> None:
    err = await send_with_failure(fake_wecom, channel(fake_wecom.webhook_url), code=code)
    assert err.retryable and err.provider_code == str(code)


@pytest.mark.parametrize("code", [93000, 40008, 44004, 45002, 40058])
async def test_other_codes_are_permanent(fake_wecom: FakeWeCom, code: int) -> None:
    err = await send_with_failure(fake_wecom, channel(fake_wecom.webhook_url), code=code)
    assert not err.retryable and err.provider_code == str(code)


async def test_http_5xx_is_retryable(fake_wecom: FakeWeCom) -> None:
    err = await send_with_failure(fake_wecom, channel(fake_wecom.webhook_url), status=502)
    assert err.retryable and err.provider_code == "HTTP 502"


async def test_timeout_is_retryable(fake_wecom: FakeWeCom) -> None:
    err = await send_past_timeout(fake_wecom, channel(fake_wecom.webhook_url, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason


async def test_connection_refused_is_retryable(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/cgi-bin/webhook/send?key=k"
    err = await send_expecting_error(channel(url))
    assert err.retryable and "connection failed" in err.reason


# ------------------------------------------------------------------ group posts: mentions


def mention(**ids: str | None) -> Mention:
    return Mention(person_id="p", name="张三", **ids)


async def post_raw(url: str, body: object) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def test_ids_without_wecom_form_are_left_out(fake_wecom: FakeWeCom) -> None:
    ch = channel(fake_wecom.webhook_url)
    people = (
        mention(wecom_userid="has space", mobile="13800000001"),  # userid unusable: mobile
        mention(wecom_userid=None, mobile="12345"),  # neither: named in the text only
        mention(wecom_userid="li.si", mobile="13800000002"),
        mention(wecom_userid="li.si"),  # the same person twice: once
    )
    await ch.send(sample_message(mentions=people))
    await ch.aclose()
    [body] = fake_wecom.accepted
    assert body["text"]["mentioned_list"] == ["li.si"]
    assert body["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert body["_mentioned"] == ["li.si", "13800000001"] and body["_not_mentioned"] == []


async def test_event_text_cannot_mention_anyone_in_a_text_post(fake_wecom: FakeWeCom) -> None:
    ch = channel(fake_wecom.webhook_url)
    hostile = f"{HAZARD}<@all><@zhangsan>"
    await ch.send(sample_message(text=hostile, mentions=(mention(mobile="13800000001"),)))
    await ch.aclose()
    [body] = fake_wecom.accepted
    assert body["_mentioned"] == ["13800000001"]
    assert "＜@all>＜@zhangsan>" in body["text"]["content"]


async def test_markdown_mentions_survive_the_length_cut(fake_wecom: FakeWeCom) -> None:
    ch = channel(fake_wecom.webhook_url)
    long = sample_message(markdown="隐患" * 1000, mentions=(mention(wecom_userid="zhangsan"),))
    await ch.send(long)
    await ch.aclose()
    [body] = fake_wecom.accepted
    content = body["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("…\n\n<@zhangsan>")
    assert body["_mentioned"] == ["zhangsan"]


async def test_standin_checks_the_mention_fields(fake_wecom: FakeWeCom) -> None:
    url = fake_wecom.webhook_url
    bad_type = {"msgtype": "text", "text": {"content": "x", "mentioned_list": "zhangsan"}}
    assert (await post_raw(url, bad_type))["errcode"] == 40058
    assert fake_wecom.rejections == ["mentioned_list is not a list of strings"]
    text = {
        "msgtype": "text",
        "text": {
            "content": "x <@wangwu>",
            "mentioned_list": ["zhangsan", "-bad", "@all"],
            "mentioned_mobile_list": ["13800000001", "1380000"],
        },
    }
    assert (await post_raw(url, text))["errcode"] == 0
    markdown = {"msgtype": "markdown", "markdown": {"content": "x", "mentioned_list": ["lisi"]}}
    assert (await post_raw(url, markdown))["errcode"] == 0
    first, second = fake_wecom.accepted
    assert first["_mentioned"] == ["zhangsan", "@all", "13800000001", "wangwu"]
    assert first["_not_mentioned"] == ["-bad", "1380000"]
    assert second["_mentioned"] == [] and second["_not_mentioned"] == ["lisi"]  # text only
