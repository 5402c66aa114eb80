"""Asking the SMS providers about a delivery in doubt (``sent_before``): Aliyun's
QuerySendDetails by OutId, Tencent's PullSmsSendStatusByPhoneNumber by SessionContext,
against the stand-ins, which check the queries as the providers document them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import pytest

from deploy.local.standins._aliyun_query import beijing
from services.notifier.channels.aliyun_sms import (
    AliyunSmsChannel,
    AliyunSmsSettings,
    _details,
    out_id,
    percent_encode,
    rpc_signature,
)
from services.notifier.channels.base import DeliveryError, OutboundMessage
from services.notifier.channels.tencent_sms import TencentSmsChannel, TencentSmsSettings
from tests.providers import FakeAliyunSms, FakeTencentSms, sample_message

KEY = "hazard:H1:reminder:m1:20260901T0900:0:P1:sms"
NOW = 1_788_000_000.0  # 2026-08-29 18:40 in Beijing


class Clock:
    """One clock for a stand-in and its channel (the stand-ins check timestamps)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def aliyun(clock: Clock) -> AsyncIterator[FakeAliyunSms]:
    async with FakeAliyunSms(clock=clock) as fake:
        yield fake


@pytest.fixture
async def tencent(clock: Clock) -> AsyncIterator[FakeTencentSms]:
    async with FakeTencentSms(clock=clock) as fake:
        yield fake


def aliyun_channel(
    fake: FakeAliyunSms, clock: Clock, secret: str | None = None
) -> AliyunSmsChannel:
    settings = AliyunSmsSettings(
        access_key_id=fake.access_key_id,
        access_key_secret=secret or fake.access_key_secret,
        sign_name="安全督办",
        endpoint=fake.endpoint,
        timeout_s=5.0,
    )
    return AliyunSmsChannel(settings, clock=clock)


def tencent_channel(fake: FakeTencentSms, clock: Clock) -> TencentSmsChannel:
    settings = TencentSmsSettings(
        secret_id=fake.secret_id,
        secret_key=fake.secret_key,
        sdk_app_id=fake.sdk_app_id,
        sign_name="安全督办",
        endpoint=fake.endpoint,
        timeout_s=5.0,
    )
    return TencentSmsChannel(settings, clock=clock)


def aliyun_message(key: str = KEY, **overrides: object) -> OutboundMessage:
    return sample_message(delivery_key=key, **overrides)


def tencent_message(key: str = KEY, **overrides: object) -> OutboundMessage:
    return sample_message(delivery_key=key, sms_template="2000001", **overrides)


def query_params(fake: FakeAliyunSms, n: int = -1) -> dict[str, str]:
    return dict(parse_qsl(fake.queries[n].body.decode()))


# -- Aliyun QuerySendDetails --------------------------------------------------------------


async def test_aliyun_finds_the_sms_sent_under_the_key(aliyun: FakeAliyunSms, clock: Clock) -> None:
    ch = aliyun_channel(aliyun, clock)
    await ch.send(aliyun_message())
    found = await ch.sent_before(aliyun_message())
    await ch.aclose()
    assert found is not None and found.provider_message_id is None  # no BizId in the answer
    assert "SendStatus=1" in found.provider_answer  # accepted, no report yet
    asked = query_params(aliyun)
    assert asked["Action"] == "QuerySendDetails" and asked["PhoneNumber"] == "13800138000"
    assert asked["SendDate"] == "20260829" and asked["PageSize"] == "50"
    assert asked["CurrentPage"] == "1" and aliyun.rejections == []
    assert len(aliyun.accepted) == 1  # a query is not a send


async def test_aliyun_delivered_report_is_found_and_a_failed_one_is_none(
    aliyun: FakeAliyunSms, clock: Clock
) -> None:
    ch = aliyun_channel(aliyun, clock)
    await ch.send(aliyun_message())
    aliyun.report(message_id=KEY)
    found = await ch.sent_before(aliyun_message())
    aliyun.report(message_id=KEY, success=False, code="MBBLACK")
    failed = await ch.sent_before(aliyun_message())
    await ch.aclose()
    assert found is not None and "SendStatus=3 ErrCode=DELIVERED" in found.provider_answer
    assert failed is None  # it never reached the phone: a resend cannot repeat it


async def test_aliyun_has_none_for_another_key_and_looks_at_yesterday_too(
    aliyun: FakeAliyunSms, clock: Clock
) -> None:
    ch = aliyun_channel(aliyun, clock)
    await ch.send(aliyun_message(key=KEY + "-other"))
    assert await ch.sent_before(aliyun_message()) is None
    assert [query_params(aliyun, n)["SendDate"] for n in (0, 1)] == ["20260829", "20260828"]
    await ch.aclose()


async def test_aliyun_finds_yesterdays_sms(aliyun: FakeAliyunSms, clock: Clock) -> None:
    ch = aliyun_channel(aliyun, clock)
    clock.now = NOW - 86400
    await ch.send(aliyun_message())
    clock.now = NOW
    found = await ch.sent_before(aliyun_message())
    await ch.aclose()
    assert found is not None and found.provider_answer.endswith("SendDate=20260828")


async def test_aliyun_matches_a_long_key_by_its_hashed_out_id(
    aliyun: FakeAliyunSms, clock: Clock
) -> None:
    long_key = "k" * 300
    ch = aliyun_channel(aliyun, clock)
    await ch.send(aliyun_message(key=long_key))
    found = await ch.sent_before(aliyun_message(key=long_key))
    await ch.aclose()
    assert aliyun.accepted[0]["params"]["OutId"] == out_id(long_key) != long_key
    assert found is not None


async def test_aliyun_pages_through_a_busy_day(aliyun: FakeAliyunSms, clock: Clock) -> None:
    ch = aliyun_channel(aliyun, clock)
    for n in range(55):
        await ch.send(aliyun_message(key=f"{KEY}-{n}"))
    await ch.send(aliyun_message())
    found = await ch.sent_before(aliyun_message())
    await ch.aclose()
    assert found is not None
    assert [query_params(aliyun, n)["CurrentPage"] for n in range(2)] == ["1", "2"]


@pytest.mark.parametrize(
    ("failure", "retryable", "code"),
    [
        ({"code": "Throttling.User"}, True, "Throttling.User"),
        ({"code": "isp.SYSTEM_ERROR"}, True, "isp.SYSTEM_ERROR"),
        ({"status": 503}, True, "HTTP 503"),
        ({"code": "isv.INVALID_PARAMETERS"}, False, "isv.INVALID_PARAMETERS"),
    ],
)
async def test_aliyun_cannot_tell_when_the_query_fails(
    aliyun: FakeAliyunSms,
    clock: Clock,
    failure: dict[str, object],
    retryable: bool,
    code: str,
) -> None:
    aliyun.fail_query_next(**failure)  # type: ignore[arg-type]
    ch = aliyun_channel(aliyun, clock)
    with pytest.raises(DeliveryError) as info:
        await ch.sent_before(aliyun_message())
    await ch.aclose()
    assert info.value.retryable is retryable and info.value.provider_code == code


async def test_aliyun_query_with_a_wrong_secret_is_refused(
    aliyun: FakeAliyunSms, clock: Clock
) -> None:
    ch = aliyun_channel(aliyun, clock, secret="wrong-secret")
    with pytest.raises(DeliveryError) as info:
        await ch.sent_before(aliyun_message())
    await ch.aclose()
    assert not info.value.retryable and info.value.provider_code == "SignatureDoesNotMatch"
    assert "wrong-secret" not in str(info.value) and "13800138000" not in str(info.value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"PageSize": "51"}, "isv.INVALID_PARAMETERS"),
        ({"CurrentPage": "0"}, "isv.INVALID_PARAMETERS"),
        ({"SendDate": "20260701"}, "isv.INVALID_PARAMETERS"),  # beyond the last 30 days
        ({"SendDate": "2026-08-29"}, "isv.INVALID_PARAMETERS"),
        ({"PhoneNumber": "13800138000,13900139000"}, "isv.MOBILE_NUMBER_ILLEGAL"),
        ({"PhoneNumber": ""}, "MissingPhoneNumber"),
    ],
)
async def test_the_aliyun_stand_in_checks_the_query(
    aliyun: FakeAliyunSms, clock: Clock, change: dict[str, str], reason: str
) -> None:
    ch = aliyun_channel(aliyun, clock)
    params = ch.query_params("13800138000", "20260829", 1)
    del params["Signature"]
    params.update(change)
    params["Signature"] = rpc_signature("POST", params, aliyun.access_key_secret)
    body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
    answer = await ch._http.post(
        aliyun.endpoint,
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    await ch.aclose()
    assert aliyun.rejections == [reason] and answer.status_code in (200, 400)


def test_aliyun_answers_without_records_read_as_empty_or_unexpected() -> None:
    assert _details({"Code": "OK", "TotalCount": "0"}, "sms") == ([], 0)
    records = {"SmsSendDetailDTO": [{"OutId": "k", "SendStatus": 3}]}
    assert _details({"TotalCount": "1", "SmsSendDetailDTOs": records}, "sms")[1] == 1
    with pytest.raises(DeliveryError):
        _details({"Code": "OK", "TotalCount": "many", "SmsSendDetailDTOs": records}, "sms")
    with pytest.raises(DeliveryError):
        _details({"Code": "OK", "TotalCount": 3, "SmsSendDetailDTOs": "?"}, "sms")


async def test_the_query_date_is_beijings(aliyun: FakeAliyunSms, clock: Clock) -> None:
    clock.now = NOW - 16 * 3600  # 2026-08-28 18:40 UTC: 02:40 on the 29th in Beijing
    ch = aliyun_channel(aliyun, clock)
    await ch.send(aliyun_message())
    assert await ch.sent_before(aliyun_message()) is not None
    await ch.aclose()
    assert query_params(aliyun)["SendDate"] == "20260829"
    assert beijing(clock.now).strftime("%H:%M") == "02:40"


# -- Tencent PullSmsSendStatusByPhoneNumber ----------------------------------------------


async def test_tencent_finds_the_reported_sms_by_its_session_context(
    tencent: FakeTencentSms, clock: Clock
) -> None:
    ch = tencent_channel(tencent, clock)
    sent = await ch.send(tencent_message())
    tencent.report(message_id=KEY)
    found = await ch.sent_before(tencent_message())
    await ch.aclose()
    assert found is not None and found.provider_message_id == sent.provider_message_id
    [pull] = tencent.queries
    assert pull.headers["X-TC-Action"] == "PullSmsSendStatusByPhoneNumber"
    assert tencent.rejections == [] and len(tencent.accepted) == 1


async def test_tencent_cannot_tell_before_a_report(tencent: FakeTencentSms, clock: Clock) -> None:
    ch = tencent_channel(tencent, clock)
    await ch.send(tencent_message())
    await ch.send(tencent_message(key=KEY + "-other"))
    tencent.report(message_id=KEY + "-other")  # another delivery's report, same phone
    with pytest.raises(DeliveryError) as info:
        await ch.sent_before(tencent_message())
    await ch.aclose()
    assert info.value.retryable and "cannot tell" in info.value.reason


async def test_tencent_failed_report_is_none(tencent: FakeTencentSms, clock: Clock) -> None:
    ch = tencent_channel(tencent, clock)
    await ch.send(tencent_message())
    tencent.report(message_id=KEY, success=False, code="MBBLACK")
    assert await ch.sent_before(tencent_message()) is None
    await ch.aclose()


async def test_tencent_matches_a_long_key_by_its_cut_session_context(
    tencent: FakeTencentSms, clock: Clock
) -> None:
    long_key = "隐" * 300
    ch = tencent_channel(tencent, clock)
    await ch.send(tencent_message(key=long_key))
    tencent.report()
    assert await ch.sent_before(tencent_message(key=long_key)) is not None
    await ch.aclose()


async def test_tencent_pull_limit_is_a_retryable_error(
    tencent: FakeTencentSms, clock: Clock
) -> None:
    tencent.fail_query_next(code="RequestLimitExceeded")
    ch = tencent_channel(tencent, clock)
    with pytest.raises(DeliveryError) as info:
        await ch.sent_before(tencent_message())
    await ch.aclose()
    assert info.value.retryable and info.value.provider_code == "RequestLimitExceeded"


async def test_the_tencent_stand_in_checks_the_pull(tencent: FakeTencentSms, clock: Clock) -> None:
    ch = tencent_channel(tencent, clock)
    body = {
        "BeginTime": int(NOW) - 8 * 86400,  # beyond the documented 7 days
        "Offset": 0,
        "Limit": 100,
        "PhoneNumber": "+8613800138000",
        "SmsSdkAppId": tencent.sdk_app_id,
    }
    for change, reason in [({}, "BeginTime"), ({"BeginTime": int(NOW), "Offset": 5}, "Offset")]:
        payload, headers = ch.signed_request("PullSmsSendStatusByPhoneNumber", {**body, **change})
        await ch._http.post(tencent.endpoint, content=payload, headers=headers)
        assert tencent.rejections[-1].startswith(reason)
    await ch.aclose()
