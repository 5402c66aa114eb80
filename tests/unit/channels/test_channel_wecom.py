from __future__ import annotations

import pytest

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
