"""The SMS stand-ins close the loop over real HTTP (stores in memory): the real Aliyun and
Tencent adapters send to them, they keep the reply code, and they push delivery reports
(once or twice) and replies, in the provider's format, to the ack service's callbacks —
as methods or through their control endpoint (what the local inbox page calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from deploy.local.standins.aliyun_sms import FakeAliyunSms
from deploy.local.standins.tencent_sms import FakeTencentSms
from services.ack.app import acknowledgement_id
from services.ack.callbacks import add_sms_callbacks
from services.metrics import Metrics
from services.notifier.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsSettings
from services.notifier.channels.tencent_sms import TencentSmsChannel, TencentSmsSettings
from services.notifier.render import TemplateSet
from services.settings import Settings
from tests.unit.smskit import EXAMPLE, MOBILE, SMS_TEMPLATES, Loop, loop, notice

TOKEN = "standin-callback-token-42"
LETTER = "${unit}的${level}“${title}”${overdue}，仍未整改，现予函告。回复${code}确认收到。"
PARAMS = SMS_TEMPLATES["aliyun_sms"]["escalation.letter"][1]
KEY = "H1:major-overdue:letter:2026-08-31:0:R1:"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


@pytest.fixture
async def lp(templates: TemplateSet) -> AsyncIterator[tuple[Loop, str]]:
    """The loop, and the URL pattern of its callbacks served over HTTP."""
    lp = loop(templates)
    app = web.Application()
    settings = Settings(callback_token=SecretStr(TOKEN))
    add_sms_callbacks(
        app, settings, lp.broker, lp.clock, Metrics(), acknowledgement_id,
        stores=(lp.awaiting, lp.codes),
    )  # fmt: skip
    server = TestServer(app)
    await server.start_server()
    base = str(server.make_url("/callbacks")).rstrip("/")
    try:
        yield lp, base + "/{provider}/{report}?token=" + TOKEN
    finally:
        await server.close()


@pytest.fixture
async def aliyun(lp: tuple[Loop, str]) -> AsyncIterator[tuple[Loop, FakeAliyunSms]]:
    loop_, pattern = lp
    fake = FakeAliyunSms(
        templates={"T-letter": LETTER},
        report_url=pattern,
        reply_url=pattern.replace("{report}", "{reply}"),
    )
    async with fake:
        settings = AliyunSmsSettings(
            access_key_id=fake.access_key_id,
            access_key_secret=fake.access_key_secret,
            sign_name="安全督办",
            endpoint=fake.endpoint,
        )
        channel = AliyunSmsChannel(settings)
        loop_.channels["aliyun_sms"] = channel
        try:
            yield loop_, fake
        finally:
            await channel.aclose()


@pytest.fixture
async def tencent(lp: tuple[Loop, str]) -> AsyncIterator[tuple[Loop, FakeTencentSms]]:
    loop_, pattern = lp
    fake = FakeTencentSms(
        templates={"T-letter": PARAMS},
        report_url=pattern,
        reply_url=pattern.replace("{report}", "{reply}"),
    )
    async with fake:
        settings = TencentSmsSettings(
            secret_id=fake.secret_id,
            secret_key=fake.secret_key,
            sdk_app_id=fake.sdk_app_id,
            sign_name="安全督办",
            endpoint=fake.endpoint,
        )
        channel = TencentSmsChannel(settings)
        loop_.channels["tencent_sms"] = channel
        try:
            yield loop_, fake
        finally:
            await channel.aclose()


async def test_aliyun_keeps_the_code_and_a_report_pushed_twice_is_one_receipt(
    aliyun: tuple[Loop, FakeAliyunSms],
) -> None:
    lp, fake = aliyun
    await lp.deliver(notice("aliyun_sms", "email"))
    assert fake.rejections == []
    code = fake.last_code(MOBILE)
    assert code is not None and len(code) == 4
    assert f"回复{code}确认收到" in fake.accepted[0]["rendered"]
    pushes = await fake.push_report(times=2)
    assert [(p.status, p.answer, p.accepted) for p in pushes] == [
        (200, {"code": 0, "msg": "接收成功"}, True)
    ] * 2
    assert pushes[0].body[0]["out_id"] == KEY + "aliyun_sms"
    assert pushes[0].body[0]["biz_id"] == fake.accepted[0]["biz_id"]
    [reached] = lp.broker.of_type("notice.reached")
    assert reached["data"]["provider_message_id"] == fake.accepted[0]["biz_id"]


async def test_aliyun_failure_through_the_control_endpoint_sends_the_notice_by_email(
    aliyun: tuple[Loop, FakeAliyunSms],
) -> None:
    lp, fake = aliyun
    await lp.deliver(notice("aliyun_sms", "email"))
    biz_id = fake.accepted[0]["biz_id"]
    async with aiohttp.ClientSession() as session:
        body = {"message_id": biz_id, "mobile": MOBILE, "success": False, "code": "MBBLACK"}
        async with session.post(f"{fake.base_url}/_control/report", json=body) as answer:
            assert answer.status == 200
            assert (await answer.json())["pushed"] == 1
        async with session.post(f"{fake.base_url}/_control/report", json={"message_id": "x"}) as no:
            assert no.status == 404
        async with session.post(f"{fake.base_url}/_control/reply", data=b"[") as bad:
            assert bad.status == 400
    assert fake.pushes[0].body[0]["success"] is False
    assert fake.pushes[0].body[0]["err_code"] == "MBBLACK"
    assert fake.requests and len(fake.requests) == 1  # control calls are not provider calls
    await lp.follow_up()
    assert len(lp.mail) == 1


async def test_an_aliyun_reply_with_the_code_acknowledges(
    aliyun: tuple[Loop, FakeAliyunSms],
) -> None:
    lp, fake = aliyun
    await lp.deliver(notice("aliyun_sms", "email"))
    code = fake.last_code(MOBILE)
    assert code is not None
    push = await fake.push_reply(MOBILE, f"好的 {code}")
    assert push.accepted and push.body[0]["content"] == f"好的 {code}"
    assert [e["data"]["channel"] for e in lp.broker.of_type("notice.acknowledged")] == ["sms_reply"]


async def test_tencent_reports_by_sid_and_takes_replies(
    tencent: tuple[Loop, FakeTencentSms],
) -> None:
    lp, fake = tencent
    await lp.deliver(notice("tencent_sms", "email"))
    assert fake.rejections == []
    code = fake.last_code(MOBILE)
    assert code is not None and fake.accepted[0]["_params"]["code"] == code
    [push] = await fake.push_report(mobile=MOBILE)
    assert push.accepted and push.answer == {"result": 0, "errmsg": "OK"}
    assert push.body[0]["sid"] == fake.accepted[0]["_serials"]["+86" + MOBILE]
    assert lp.broker.of_type("notice.reached")[0]["id"] == KEY + "tencent_sms@reached"
    async with aiohttp.ClientSession() as session:
        body = {"mobile": MOBILE, "text": code}
        async with session.post(f"{fake.base_url}/_control/reply", json=body) as answer:
            assert answer.status == 200
    assert fake.pushes[-1].body["text"] == code and fake.pushes[-1].accepted
    assert len(lp.broker.of_type("notice.acknowledged")) == 1


async def test_a_push_duban_refuses_is_recorded_as_not_accepted(
    lp: tuple[Loop, str],
) -> None:
    loop_, pattern = lp
    wrong = pattern.replace(TOKEN, "not-the-token")
    async with FakeTencentSms(templates={"T-letter": PARAMS}, report_url=wrong) as fake:
        settings = TencentSmsSettings(
            secret_id=fake.secret_id,
            secret_key=fake.secret_key,
            sdk_app_id=fake.sdk_app_id,
            sign_name="安全督办",
            endpoint=fake.endpoint,
        )
        loop_.channels["tencent_sms"] = channel = TencentSmsChannel(settings)
        await loop_.deliver(notice("tencent_sms"))
        await channel.aclose()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{fake.base_url}/_control/report", json={}) as answer,
        ):
            assert answer.status == 502
            assert (await answer.json())["answers"][0]["status"] == 403
    assert [p.accepted for p in fake.pushes] == [False]
    assert loop_.broker.published == []
