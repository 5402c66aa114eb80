from __future__ import annotations

import time

import pytest

from services.notifier.channels.base import DeliveryError
from services.notifier.channels.feishu import FeishuChannel, FeishuSettings
from tests.providers import FakeFeishu, sample_message


def channel(
    fake: FakeFeishu,
    *,
    secret: str | None = None,
    timeout_s: float = 5.0,
    clock: float | None = None,
) -> FeishuChannel:
    settings = FeishuSettings(
        webhook_url=fake.webhook_url,
        secret=fake.secret if secret is None else secret,
        timeout_s=timeout_s,
    )
    if clock is None:
        return FeishuChannel(settings)
    return FeishuChannel(settings, clock=lambda: clock)


async def send_expecting_error(ch: FeishuChannel, **overrides: object) -> DeliveryError:
    try:
        with pytest.raises(DeliveryError) as info:
            await ch.send(sample_message(**overrides))
    finally:
        await ch.aclose()
    return info.value


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
    fake_feishu.fail_next(code=code, message=message)
    err = await send_expecting_error(channel(fake_feishu))
    assert err.retryable and err.provider_code == str(code)


async def test_bad_request_9499_is_permanent(fake_feishu: FakeFeishu) -> None:
    fake_feishu.fail_next(code=9499, message="Bad Request", status=400)
    err = await send_expecting_error(channel(fake_feishu))
    assert not err.retryable and err.provider_code == "9499"


async def test_http_429_with_code_is_retryable(fake_feishu: FakeFeishu) -> None:
    fake_feishu.fail_next(code=11232, status=429)
    err = await send_expecting_error(channel(fake_feishu))
    assert err.retryable


@pytest.mark.parametrize("code", [19001, 19002, 19021, 19022, 19024])
async def test_permanent_codes(fake_feishu: FakeFeishu, code: int) -> None:
    fake_feishu.fail_next(code=code)
    err = await send_expecting_error(channel(fake_feishu))
    assert not err.retryable and err.provider_code == str(code)


async def test_http_5xx_is_retryable(fake_feishu: FakeFeishu) -> None:
    fake_feishu.fail_next(status=500)
    err = await send_expecting_error(channel(fake_feishu))
    assert err.retryable and err.provider_code == "HTTP 500"


async def test_timeout_is_retryable(fake_feishu: FakeFeishu) -> None:
    fake_feishu.delay_next(seconds=30)
    err = await send_expecting_error(channel(fake_feishu, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason
