from __future__ import annotations

import json
import time

import pytest

from deploy.local.standins._crypto import rfc2104_hmac
from services.notifier.channels.webhook import (
    WebhookChannel,
    WebhookSettings,
    verify_webhook_signature,
    webhook_signature,
)
from tests.providers import FakeWebhookReceiver, sample_message
from tests.unit.channels._support import (
    send_expecting_error,
    send_past_timeout,
    send_with_failure,
    with_clock,
)

PAYLOAD = {"notice_id": "N20240601-0007", "level": "重大隐患", "overdue_days": 3, "tags": ["电气"]}


def channel(
    fake: FakeWebhookReceiver,
    *,
    secret: str | None = None,
    timeout_s: float = 5.0,
    clock: float | None = None,
) -> WebhookChannel:
    settings = WebhookSettings(url=fake.url, secret=secret or fake.secret, timeout_s=timeout_s)
    return with_clock(WebhookChannel, settings, clock)


async def test_signed_payload(fake_webhook_receiver: FakeWebhookReceiver) -> None:
    ch = channel(fake_webhook_receiver)
    result = await ch.send(sample_message(payload=PAYLOAD))
    await ch.aclose()
    [record] = fake_webhook_receiver.accepted
    assert record["payload"] == PAYLOAD
    assert record["delivery"] == sample_message().delivery_key
    assert result.provider_answer == "HTTP 200" and result.provider_message_id
    request = fake_webhook_receiver.requests[0]
    assert "重大隐患".encode() in request.body  # UTF-8, not \u escapes
    assert verify_webhook_signature(
        fake_webhook_receiver.secret,
        request.headers["X-Duban-Timestamp"],
        request.body,
        request.headers["X-Duban-Signature"],
        now_s=time.time(),
    )


async def test_default_payload(fake_webhook_receiver: FakeWebhookReceiver) -> None:
    ch = channel(fake_webhook_receiver)
    await ch.send(sample_message())
    await ch.aclose()
    payload = fake_webhook_receiver.accepted[0]["payload"]
    assert payload == {
        "delivery_key": sample_message().delivery_key,
        "subject": sample_message().subject,
        "text": sample_message().text,
        "markdown": sample_message().markdown,
    }


async def test_wrong_secret_is_permanent(fake_webhook_receiver: FakeWebhookReceiver) -> None:
    err = await send_expecting_error(channel(fake_webhook_receiver, secret="not-the-secret"))
    assert not err.retryable and err.provider_code == "HTTP 401"
    assert fake_webhook_receiver.rejections == ["signature mismatch"]


async def test_stale_clock_is_refused(fake_webhook_receiver: FakeWebhookReceiver) -> None:
    err = await send_expecting_error(channel(fake_webhook_receiver, clock=time.time() - 600))
    assert not err.retryable and fake_webhook_receiver.rejections == ["stale timestamp"]


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (404, False), (410, False)]
)
async def test_status_classification(
    fake_webhook_receiver: FakeWebhookReceiver, status: int, retryable: bool
) -> None:
    err = await send_with_failure(
        fake_webhook_receiver, channel(fake_webhook_receiver), status=status, retry_after=3
    )
    assert err.retryable is retryable and err.provider_code == f"HTTP {status}"
    assert err.retry_after_s == (3.0 if retryable else None)


async def test_timeout_is_retryable(fake_webhook_receiver: FakeWebhookReceiver) -> None:
    ch = channel(fake_webhook_receiver, timeout_s=0.2)
    err = await send_past_timeout(fake_webhook_receiver, ch)
    assert err.retryable and "timed out" in err.reason


def test_signature_definition() -> None:
    body = json.dumps(PAYLOAD, ensure_ascii=False).encode()
    expected = "sha256=" + rfc2104_hmac("sha256", b"k", b"1717200000." + body).hex()
    assert webhook_signature("k", 1717200000, body) == expected
    assert webhook_signature(b"k", "1717200000", body.decode()) == expected


def test_verify_webhook_signature() -> None:
    body = b'{"a":"\xe4\xb8\xad"}'
    ts = 1717200000
    header = webhook_signature("secret", ts, body)
    assert verify_webhook_signature("secret", ts, body, header, now_s=ts + 10)
    assert verify_webhook_signature("secret", str(ts), body.decode(), f" {header} ", now_s=ts)
    assert not verify_webhook_signature("secret", ts, body + b" ", header, now_s=ts)
    assert not verify_webhook_signature("other", ts, body, header, now_s=ts)
    assert not verify_webhook_signature("secret", ts + 1, body, header, now_s=ts)
    assert not verify_webhook_signature("secret", ts, body, header, now_s=ts + 301)
    assert not verify_webhook_signature("secret", ts, body, header, now_s=ts - 301)
    assert verify_webhook_signature("secret", ts, body, header, now_s=ts + 900, tolerance_s=1000)
    assert not verify_webhook_signature("secret", "abc", body, header, now_s=ts)
    assert not verify_webhook_signature("secret", ts, body, None, now_s=ts)
    assert not verify_webhook_signature("secret", ts, body, header.upper(), now_s=ts)
    assert not verify_webhook_signature("", ts, body, header, now_s=ts)
    assert not verify_webhook_signature("secret", ts, body, "sha256=中文", now_s=ts)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        WebhookChannel(WebhookSettings(url="http://127.0.0.1/", secret=""))


async def test_non_ascii_delivery_key_header(fake_webhook_receiver: FakeWebhookReceiver) -> None:
    ch = channel(fake_webhook_receiver)
    await ch.send(sample_message(delivery_key="N1:1:张三:webhook"))
    await ch.aclose()
    assert fake_webhook_receiver.accepted[0]["delivery"] == "N1:1:%E5%BC%A0%E4%B8%89:webhook"
