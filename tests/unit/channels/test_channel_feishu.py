from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from services.notifier.channels.feishu import FeishuChannel, FeishuSettings
from services.notifier.channels.mentions import Mention
from tests.providers import FakeFeishu, sample_message
from tests.unit.channels._support import (
    robot_channel,
    send_expecting_error,
    send_past_timeout,
    send_with_failure,
)


def channel(fake: FakeFeishu, **options: Any) -> FeishuChannel:
    return robot_channel(FeishuChannel, FeishuSettings, fake, **options)


async def test_signed_card(fake_feishu: FakeFeishu) -> None:
    ch = channel(fake_feishu)
    result = await ch.send(sample_message(at_mobiles=("13800138000",)))
    await ch.aclose()
    assert result.provider_answer == "code=0 success"
    [body] = fake_feishu.accepted
    assert body["msg_type"] == "interactive"
    assert isinstance(body["timestamp"], str) and body["sign"]
    card = body["card"]
    assert card["header"]["title"] == {"tag": "plain_text", "content": sample_message().subject}
    assert card["elements"] == [{"tag": "markdown", "content": sample_message().markdown}]


async def test_post_when_no_markdown(fake_feishu: FakeFeishu) -> None:
    ch = channel(fake_feishu)
    await ch.send(sample_message(markdown=None, text="第一行\n第二行"))
    await ch.aclose()
    [body] = fake_feishu.accepted
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == sample_message().subject
    assert post["content"] == [
        [{"tag": "text", "text": "第一行"}],
        [{"tag": "text", "text": "第二行"}],
    ]


async def test_legacy_status_code_answer() -> None:
    async with FakeFeishu(legacy=True) as fake:
        ch = channel(fake)
        result = await ch.send(sample_message())
        assert result.provider_answer == "code=0 success"
        fake.fail_next(code=19021)
        err = await send_expecting_error(ch)
        assert not err.retryable and err.provider_code == "19021"


async def test_unsigned_bot() -> None:
    async with FakeFeishu(secret=None) as fake:
        ch = FeishuChannel(FeishuSettings(webhook_url=fake.webhook_url))
        await ch.send(sample_message())
        await ch.aclose()
        [body] = fake.accepted
        assert "sign" not in body and "timestamp" not in body


async def test_wrong_secret_is_permanent(fake_feishu: FakeFeishu) -> None:
    err = await send_expecting_error(channel(fake_feishu, secret="other-secret"))
    assert not err.retryable and err.provider_code == "19021"
    assert "sign match fail" in err.reason and "other-secret" not in str(err)
    assert fake_feishu.rejections == ["signature mismatch"]


async def test_stale_timestamp_is_permanent(fake_feishu: FakeFeishu) -> None:
    err = await send_expecting_error(channel(fake_feishu, clock=time.time() + 2 * 3600))
    assert not err.retryable and err.provider_code == "19021"
    assert fake_feishu.rejections == ["timestamp not within one hour"]


async def test_keywords_and_ip_allow_list() -> None:
    async with FakeFeishu(keywords=("整改",)) as fake:
        ch = channel(fake)
        await ch.send(sample_message())
        await ch.aclose()
        assert len(fake.accepted) == 1
    async with FakeFeishu(keywords=("告警",)) as fake:
        err = await send_expecting_error(channel(fake))
        assert not err.retryable and err.provider_code == "19024"
    async with FakeFeishu(allowed_ips=("10.1.2.3",)) as fake:
        err = await send_expecting_error(channel(fake))
        assert not err.retryable and err.provider_code == "19022"


async def test_unknown_hook_is_permanent(fake_feishu: FakeFeishu) -> None:
    ch = FeishuChannel(
        FeishuSettings(webhook_url=fake_feishu.webhook_url + "x", secret=fake_feishu.secret)
    )
    err = await send_expecting_error(ch)
    assert not err.retryable and err.provider_code == "19001"


@pytest.mark.parametrize(
    ("code", "message"), [(11232, None), (9499, "too many request"), (2200, "internal error")]
)
async def test_frequency_limit_is_retryable(
    fake_feishu: FakeFeishu, code: int, message: str | None
) -> None:
    err = await send_with_failure(fake_feishu, channel(fake_feishu), code=code, message=message)
    assert err.retryable and err.provider_code == str(code)


async def test_bad_request_9499_is_permanent(fake_feishu: FakeFeishu) -> None:
    err = await send_with_failure(
        fake_feishu, channel(fake_feishu), code=9499, message="Bad Request", status=400
    )
    assert not err.retryable and err.provider_code == "9499"


async def test_http_429_with_code_is_retryable(fake_feishu: FakeFeishu) -> None:
    err = await send_with_failure(fake_feishu, channel(fake_feishu), code=11232, status=429)
    assert err.retryable


@pytest.mark.parametrize("code", [19001, 19002, 19021, 19022, 19024])
async def test_permanent_codes(fake_feishu: FakeFeishu, code: int) -> None:
    err = await send_with_failure(fake_feishu, channel(fake_feishu), code=code)
    assert not err.retryable and err.provider_code == str(code)


async def test_http_5xx_is_retryable(fake_feishu: FakeFeishu) -> None:
    err = await send_with_failure(fake_feishu, channel(fake_feishu), status=500)
    assert err.retryable and err.provider_code == "HTTP 500"


async def test_timeout_is_retryable(fake_feishu: FakeFeishu) -> None:
    err = await send_past_timeout(fake_feishu, channel(fake_feishu, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason


# ------------------------------------------------------------------ group posts: mentions

OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706"


async def test_post_mentions_as_at_elements(fake_feishu: FakeFeishu) -> None:
    people = (
        Mention(name="张三", feishu_open_id=OPEN_ID),
        Mention(name="李四", feishu_open_id="on_not_an_open_id"),  # left out
        Mention(name="王五", mobile="13800000001"),  # a custom bot cannot @ by mobile
    )
    ch = channel(fake_feishu)
    await ch.send(sample_message(markdown=None, text="第一行", mentions=people))
    await ch.aclose()
    [body] = fake_feishu.accepted
    assert body["content"]["post"]["zh_cn"]["content"] == [
        [{"tag": "text", "text": "第一行"}],
        [{"tag": "at", "user_id": OPEN_ID, "user_name": "张三"}],
    ]
    assert body["_mentioned"] == [OPEN_ID] and body["_not_mentioned"] == []


async def test_a_message_without_mentions_has_no_mention_element(fake_feishu: FakeFeishu) -> None:
    ch = channel(fake_feishu)
    await ch.send(sample_message(at_mobiles=("13800000001",)))
    await ch.aclose()
    [body] = fake_feishu.accepted
    assert len(body["card"]["elements"]) == 1 and body["_mentioned"] == []


async def test_standin_checks_mentions_in_text_post_and_card(fake_feishu: FakeFeishu) -> None:
    fake_feishu.secret = None  # raw bodies below carry no signature
    bad_post = {"zh_cn": {"title": "t", "content": [[{"tag": "at", "user_id": 7}]]}}
    text = (
        f'<at user_id="{OPEN_ID}">张三</at> <at user_id="all">所有人</at> <at user_id="a b">x</at>'
    )
    card_md = f"<at id={OPEN_ID}></at> <at id=zhangsan></at>"
    bodies = [
        {"msg_type": "post", "content": {"post": bad_post}},
        {"msg_type": "text", "content": {"text": text}},
        {
            "msg_type": "interactive",
            "card": {"elements": [{"tag": "markdown", "content": card_md}]},
        },
    ]
    async with aiohttp.ClientSession() as session:
        codes = []
        for data in bodies:
            async with session.post(fake_feishu.webhook_url, json=data) as response:
                codes.append((await response.json())["code"])
    assert codes == [19002, 0, 0]
    assert fake_feishu.rejections[0].startswith("bad mention: an at element needs a string")
    in_text, in_card = fake_feishu.accepted
    assert in_text["_mentioned"] == [OPEN_ID, "all"] and in_text["_not_mentioned"] == ["a b"]
    assert in_card["_mentioned"] == [OPEN_ID] and in_card["_not_mentioned"] == ["zhangsan"]
