from __future__ import annotations

import itertools
import json
import time

import pytest

from services.notifier.channels.aliyun_sms import (
    AliyunSmsChannel,
    AliyunSmsSettings,
    percent_encode,
    rpc_signature,
)
from tests.providers import FakeAliyunSms, sample_message
from tests.providers.messages import HAZARD
from tests.unit.channels._support import (
    send_expecting_error,
    send_past_timeout,
    send_with_failure,
)


def channel(
    fake: FakeAliyunSms,
    *,
    key_id: str | None = None,
    secret: str | None = None,
    sign_name: str = "安全督办",
    timeout_s: float = 5.0,
    clock: float | None = None,
    nonce: str | None = None,
) -> AliyunSmsChannel:
    settings = AliyunSmsSettings(
        access_key_id=key_id or fake.access_key_id,
        access_key_secret=secret or fake.access_key_secret,
        sign_name=sign_name,
        endpoint=fake.endpoint,
        timeout_s=timeout_s,
    )
    kw: dict[str, object] = {}
    if clock is not None:
        kw["clock"] = lambda: clock
    if nonce is not None:
        kw["nonce"] = lambda: nonce
    return AliyunSmsChannel(settings, **kw)  # type: ignore[arg-type]


def test_signature_matches_the_documented_example() -> None:
    """The worked example of Alibaba Cloud's SMS API signature documentation."""
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert rpc_signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_percent_encoding_rules() -> None:
    assert percent_encode("a b*c~d+e/f=g") == "a%20b%2Ac~d%2Be%2Ff%3Dg"
    assert percent_encode("督办") == "%E7%9D%A3%E5%8A%9E"


async def test_send(fake_aliyun_sms: FakeAliyunSms) -> None:
    ch = channel(fake_aliyun_sms)
    result = await ch.send(sample_message())
    await ch.aclose()
    assert fake_aliyun_sms.rejections == []
    [record] = fake_aliyun_sms.accepted
    params = record["params"]
    assert params["PhoneNumbers"] == "13800138000"
    assert params["SignName"] == "安全督办"
    assert params["TemplateCode"] == "SMS_100001"
    assert params["OutId"] == sample_message().delivery_key
    assert params["RegionId"] == "cn-hangzhou"
    assert list(json.loads(params["TemplateParam"])) == ["hazard", "deadline"]  # order kept
    assert record["rendered"] == f"您有隐患待整改：{HAZARD}，请于6月1日17:00前完成。"
    assert result.provider_message_id and result.provider_message_id.endswith("^0")
    assert result.provider_answer.startswith("Code=OK RequestId=")


async def test_reserved_characters_survive_signing(fake_aliyun_sms: FakeAliyunSms) -> None:
    ch = channel(fake_aliyun_sms)
    params = {"hazard": "A区 * 1~2 +3/4 =5 &6 %7 “引号”", "deadline": "明天 08:00"}
    await ch.send(sample_message(sms_params=params))
    await ch.aclose()
    [record] = fake_aliyun_sms.accepted
    assert record["template_params"] == params


async def test_mobile_with_country_code_is_normalised(fake_aliyun_sms: FakeAliyunSms) -> None:
    ch = channel(fake_aliyun_sms)
    await ch.send(sample_message(to_mobile="+86 138-0013-8000"))
    await ch.aclose()
    assert fake_aliyun_sms.accepted[0]["params"]["PhoneNumbers"] == "13800138000"


async def test_wrong_secret_is_permanent_and_nothing_leaks(fake_aliyun_sms: FakeAliyunSms) -> None:
    err = await send_expecting_error(channel(fake_aliyun_sms, secret="wrong-secret"))
    assert not err.retryable and err.provider_code == "SignatureDoesNotMatch"
    text = str(err)
    assert "13800138000" not in text and "wrong-secret" not in text
    assert "string to sign" not in text and "Specified signature is not matched" in text
    assert fake_aliyun_sms.rejections == ["SignatureDoesNotMatch"]


async def test_unknown_access_key_is_permanent(fake_aliyun_sms: FakeAliyunSms) -> None:
    err = await send_expecting_error(channel(fake_aliyun_sms, key_id="LTAI-unknown"))
    assert not err.retryable and err.provider_code == "InvalidAccessKeyId.NotFound"


async def test_stale_timestamp_is_permanent(fake_aliyun_sms: FakeAliyunSms) -> None:
    err = await send_expecting_error(channel(fake_aliyun_sms, clock=time.time() - 3600))
    assert not err.retryable and err.provider_code == "InvalidTimeStamp.Expired"


async def test_reused_nonce_is_refused_and_retryable(fake_aliyun_sms: FakeAliyunSms) -> None:
    ch = channel(fake_aliyun_sms, nonce="same-nonce")
    await ch.send(sample_message())
    err = await send_expecting_error(ch)
    assert err.retryable and err.provider_code == "SignatureNonceUsed"


async def test_unknown_template_and_sign_and_missing_params(fake_aliyun_sms: FakeAliyunSms) -> None:
    err = await send_expecting_error(channel(fake_aliyun_sms), sms_template="SMS_999")
    assert not err.retryable and err.provider_code == "isv.SMS_TEMPLATE_ILLEGAL"
    err = await send_expecting_error(channel(fake_aliyun_sms, sign_name="别的签名"))
    assert not err.retryable and err.provider_code == "isv.SMS_SIGNATURE_ILLEGAL"
    err = await send_expecting_error(channel(fake_aliyun_sms), sms_params={"hazard": HAZARD})
    assert not err.retryable and err.provider_code == "isv.TEMPLATE_MISSING_PARAMETERS"


@pytest.mark.parametrize(
    ("code", "retry_after"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", 60.0),
        ("Throttling.User", None),
        ("isp.SYSTEM_ERROR", None),
        ("ServiceUnavailable", None),
    ],
)
async def test_throttling_is_retryable(
    fake_aliyun_sms: FakeAliyunSms, code: str, retry_after: float | None
) -> None:
    err = await send_with_failure(fake_aliyun_sms, channel(fake_aliyun_sms), code=code)
    assert err.retryable and err.provider_code == code and err.retry_after_s == retry_after


@pytest.mark.parametrize(
    "code",
    [
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.DAY_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isp.RAM_PERMISSION_DENY",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
        "isv.SOMETHING_NEW",
    ],
)
async def test_permanent_codes(fake_aliyun_sms: FakeAliyunSms, code: str) -> None:
    err = await send_with_failure(fake_aliyun_sms, channel(fake_aliyun_sms), code=code)
    assert not err.retryable and err.provider_code == code


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to_mobile": "12345"}, "invalid_mobile"),
        ({"to_mobile": "+1 415 555 0100"}, "invalid_mobile"),
        ({"to_mobile": None}, None),
        ({"sms_template": None}, None),
    ],
)
async def test_unsendable_messages_fail_before_any_request(
    fake_aliyun_sms: FakeAliyunSms, overrides: dict[str, object], code: str | None
) -> None:
    err = await send_expecting_error(channel(fake_aliyun_sms), **overrides)
    assert not err.retryable and err.provider_code == code
    assert fake_aliyun_sms.requests == []
    assert "4155550100" not in str(err)


async def test_http_5xx_is_retryable(fake_aliyun_sms: FakeAliyunSms) -> None:
    err = await send_with_failure(fake_aliyun_sms, channel(fake_aliyun_sms), status=503)
    assert err.retryable and err.provider_code == "HTTP 503"


async def test_timeout_is_retryable(fake_aliyun_sms: FakeAliyunSms) -> None:
    err = await send_past_timeout(fake_aliyun_sms, channel(fake_aliyun_sms, timeout_s=0.2))
    assert err.retryable and "timed out" in err.reason


async def test_each_attempt_gets_a_fresh_nonce(fake_aliyun_sms: FakeAliyunSms) -> None:
    ch = channel(fake_aliyun_sms)
    for _ in itertools.repeat(None, 3):
        await ch.send(sample_message())
    await ch.aclose()
    nonces = {r["params"]["SignatureNonce"] for r in fake_aliyun_sms.accepted}
    assert len(nonces) == 3
