from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from services.notifier.channels.base import DeliveryError
from services.notifier.channels.tencent_sms import (
    TencentSmsChannel,
    TencentSmsSettings,
    tc3_canonical_request,
    tc3_string_to_sign,
)
from tests.providers import FakeTencentSms, sample_message
from tests.providers.messages import HAZARD
from tests.unit.channels._support import expect_error, with_clock


def channel(
    fake: FakeTencentSms,
    *,
    secret_id: str | None = None,
    secret_key: str | None = None,
    timeout_s: float = 5.0,
    clock: float | None = None,
) -> TencentSmsChannel:
    settings = TencentSmsSettings(
        secret_id=secret_id or fake.secret_id,
        secret_key=secret_key or fake.secret_key,
        sdk_app_id=fake.sdk_app_id,
        sign_name="安全督办",
        endpoint=fake.endpoint,
        timeout_s=timeout_s,
    )
    return with_clock(TencentSmsChannel, settings, clock)


def message(**overrides: object):  # type: ignore[no-untyped-def]
    return sample_message(**{"sms_template": "2000001", **overrides})


async def send_expecting_error(ch: TencentSmsChannel, **overrides: object) -> DeliveryError:
    return await expect_error(ch, message(**overrides))


def test_signature_matches_the_documented_example() -> None:
    """Tencent Cloud's TC3-HMAC-SHA256 worked example (CVM DescribeInstances).  The
    documentation masks the example SecretKey but publishes the hashed canonical
    request, the derived SecretSigning key and the final signature."""
    payload = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    canonical, signed = tc3_canonical_request(
        payload=payload,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Host": "cvm.tencentcloudapi.com",
            "X-TC-Action": "DescribeInstances",
        },
    )
    assert signed == "content-type;host;x-tc-action"
    assert (
        hashlib.sha256(canonical.encode()).hexdigest()
        == "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )
    sts = tc3_string_to_sign(timestamp=1551113065, service="cvm", canonical_request=canonical)
    assert sts.startswith("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n")
    key = bytes.fromhex("b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af")
    assert (
        hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        == "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
    )


async def test_send(fake_tencent_sms: FakeTencentSms) -> None:
    ch = channel(fake_tencent_sms)
    result = await ch.send(message())
    await ch.aclose()
    assert fake_tencent_sms.rejections == []
    [body] = fake_tencent_sms.accepted
    assert body["PhoneNumberSet"] == ["+8613800138000"]
    assert body["SmsSdkAppId"] == fake_tencent_sms.sdk_app_id
    assert body["SignName"] == "安全督办"
    assert body["TemplateId"] == "2000001"
    assert body["TemplateParamSet"] == [HAZARD, "6月1日17:00"]
    assert body["SessionContext"] == sample_message().delivery_key
    headers = fake_tencent_sms.requests[0].headers
    assert headers["X-TC-Action"] == "SendSms" and headers["X-TC-Region"] == "ap-guangzhou"
    assert headers["Authorization"].startswith("TC3-HMAC-SHA256 Credential=AKID-test-id/")
    assert result.provider_message_id and result.provider_message_id.startswith("5000:")
    assert result.provider_answer.startswith("Code=Ok RequestId=")


async def test_wrong_secret_key_is_permanent(fake_tencent_sms: FakeTencentSms) -> None:
    err = await send_expecting_error(channel(fake_tencent_sms, secret_key="wrong-key"))
    assert not err.retryable and err.provider_code == "AuthFailure.SignatureFailure"
    assert "wrong-key" not in str(err)
    assert fake_tencent_sms.rejections == ["signature mismatch"]


async def test_unknown_secret_id_is_permanent(fake_tencent_sms: FakeTencentSms) -> None:
    err = await send_expecting_error(channel(fake_tencent_sms, secret_id="AKID-nope"))
    assert not err.retryable and err.provider_code == "AuthFailure.SecretIdNotFound"


async def test_stale_timestamp_is_permanent(fake_tencent_sms: FakeTencentSms) -> None:
    err = await send_expecting_error(channel(fake_tencent_sms, clock=time.time() - 900))
    assert not err.retryable and err.provider_code == "AuthFailure.SignatureExpire"


async def test_template_problems_are_permanent(fake_tencent_sms: FakeTencentSms) -> None:
    err = await send_expecting_error(channel(fake_tencent_sms), sms_template="999")
    assert (
        not err.retryable and err.provider_code == "FailedOperation.TemplateIncorrectOrUnapproved"
    )
    err = await send_expecting_error(channel(fake_tencent_sms), sms_params={"a": "1"})
    assert not err.retryable
    assert err.provider_code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"


@pytest.mark.parametrize(
    ("code", "per_number", "retry_after"),
    [
        ("RequestLimitExceeded", False, None),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", True, 30.0),
        ("LimitExceeded.PhoneNumberDailyLimit", True, 3600.0),
        ("InternalError.Timeout", False, None),
        ("InternalError.SendAndRecvFail", True, None),
    ],
)
async def test_limits_and_internal_errors_are_retryable(
    fake_tencent_sms: FakeTencentSms, code: str, per_number: bool, retry_after: float | None
) -> None:
    fake_tencent_sms.fail_next(code=code, per_number=per_number)
    err = await send_expecting_error(channel(fake_tencent_sms))
    assert err.retryable and err.provider_code == code and err.retry_after_s == retry_after


@pytest.mark.parametrize(
    ("code", "per_number"),
    [
        ("AuthFailure.SignatureFailure", False),
        ("FailedOperation.ContainSensitiveWord", True),
        ("InvalidParameterValue.IncorrectPhoneNumber", True),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", False),
        ("FailedOperation.InsufficientBalanceInSmsPackage", False),
    ],
)
async def test_permanent_codes(
    fake_tencent_sms: FakeTencentSms, code: str, per_number: bool
) -> None:
    fake_tencent_sms.fail_next(code=code, per_number=per_number)
    err = await send_expecting_error(channel(fake_tencent_sms))
    assert not err.retryable and err.provider_code == code


async def test_http_5xx_is_retryable(fake_tencent_sms: FakeTencentSms) -> None:
    fake_tencent_sms.fail_next(status=502)
    err = await send_expecting_error(channel(fake_tencent_sms))
    assert err.retryable and err.provider_code == "HTTP 502"


async def test_timeout_is_retryable(fake_tencent_sms: FakeTencentSms) -> None:
    fake_tencent_sms.delay_next(seconds=30)
    err = await send_expecting_error(channel(fake_tencent_sms, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason


async def test_invalid_mobile_is_refused_locally(fake_tencent_sms: FakeTencentSms) -> None:
    err = await send_expecting_error(channel(fake_tencent_sms), to_mobile="023-6666888")
    assert not err.retryable and err.provider_code == "invalid_mobile"
    assert fake_tencent_sms.requests == []


async def test_long_delivery_key_is_cut_to_session_context_limit(
    fake_tencent_sms: FakeTencentSms,
) -> None:
    ch = channel(fake_tencent_sms)
    await ch.send(message(delivery_key="隐" * 300))
    await ch.aclose()
    session = fake_tencent_sms.accepted[0]["SessionContext"]
    assert len(session.encode()) <= 512 and session == "隐" * 170
