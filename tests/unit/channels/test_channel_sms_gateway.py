from __future__ import annotations

import pytest

from services.notifier.channels.sms_gateway import SmsGatewayChannel, SmsGatewaySettings
from tests.providers import FakeSmsGateway, sample_message
from tests.unit.channels._support import (
    send_expecting_error,
    send_past_timeout,
    send_with_failure,
)


def channel(
    fake: FakeSmsGateway, *, token: str | None = None, timeout_s: float = 5.0
) -> SmsGatewayChannel:
    return SmsGatewayChannel(
        SmsGatewaySettings(url=fake.url, token=token or fake.token, timeout_s=timeout_s)
    )


async def test_send_and_idempotent_replay(fake_sms_gateway: FakeSmsGateway) -> None:
    ch = channel(fake_sms_gateway)
    first = await ch.send(sample_message())
    again = await ch.send(sample_message())
    await ch.aclose()
    [body] = fake_sms_gateway.accepted
    assert body == {
        "mobile": "13800138000",
        "template": "SMS_100001",
        "params": sample_message().sms_params,
        "request_id": sample_message().delivery_key,
    }
    assert first.provider_message_id == again.provider_message_id == "gw-1"
    assert first.provider_answer == "HTTP 200 id=gw-1"
    assert fake_sms_gateway.requests[0].headers["Authorization"] == "Bearer gateway-test-token"


async def test_wrong_token_is_permanent(fake_sms_gateway: FakeSmsGateway) -> None:
    err = await send_expecting_error(channel(fake_sms_gateway, token="bad-token"))
    assert not err.retryable and err.provider_code == "HTTP 401"
    assert "bad-token" not in str(err)


@pytest.mark.parametrize(("status", "retry_after"), [(429, 7.0), (408, None), (503, None)])
async def test_retryable_statuses(
    fake_sms_gateway: FakeSmsGateway, status: int, retry_after: float | None
) -> None:
    extra = {"retry_after": 7} if retry_after else {}
    err = await send_with_failure(
        fake_sms_gateway, channel(fake_sms_gateway), status=status, **extra
    )
    assert err.retryable and err.provider_code == f"HTTP {status}"
    assert err.retry_after_s == retry_after


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_other_4xx_are_permanent(fake_sms_gateway: FakeSmsGateway, status: int) -> None:
    err = await send_with_failure(
        fake_sms_gateway,
        channel(fake_sms_gateway),
        status=status,
        message="mobile 13800138000 blocked",
    )
    assert not err.retryable and err.provider_code == f"HTTP {status}"
    assert "13800138000" not in str(err) and "138****8000" in str(err)


async def test_timeout_is_retryable(fake_sms_gateway: FakeSmsGateway) -> None:
    err = await send_past_timeout(fake_sms_gateway, channel(fake_sms_gateway, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason


async def test_connection_refused_is_retryable(closed_port: int) -> None:
    ch = SmsGatewayChannel(SmsGatewaySettings(url=f"http://127.0.0.1:{closed_port}/", token="t"))
    err = await send_expecting_error(ch)
    assert err.retryable


async def test_bad_endpoint_is_permanent() -> None:
    ch = SmsGatewayChannel(SmsGatewaySettings(url="ftp://sms.example.com/send", token="t"))
    err = await send_expecting_error(ch)
    assert not err.retryable and "bad endpoint" in err.reason
