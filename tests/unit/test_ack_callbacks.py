"""The SMS callbacks of the ack service over HTTP, on in-memory stores: the token is checked
in constant time (403 otherwise), each provider gets the answer it documents, one bad item
never fails its batch, Redis or Kafka trouble answers 503; the providers' pushes are read
as documented; the SMS stand-ins push reports and replies to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.ack.app import acknowledgement_id, create_ack_app
from services.ack.callbacks import add_sms_callbacks
from services.metrics import Metrics
from services.notifier.render import TemplateSet
from services.settings import Settings
from services.sms.pushes import (
    DeliveryReport,
    NotABatch,
    Unreadable,
    UplinkSms,
    aliyun_reports,
    aliyun_uplinks,
    tencent_reports,
    tencent_uplinks,
)
from tests.unit.smskit import EXAMPLE, MOBILE, Loop, loop, notice

TOKEN = "callback-token-0123456789"
KEY = "H1:major-overdue:letter:2026-08-31:0:R1:aliyun_sms"
ALIYUN_OK = {"code": 0, "msg": "接收成功"}
TENCENT_OK = {"result": 0, "errmsg": "OK"}


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


@pytest.fixture
async def lp(templates: TemplateSet) -> Loop:
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms", "email"))
    return lp


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(lp: Loop, metrics: Metrics) -> AsyncIterator[TestClient]:
    app = web.Application()
    settings = Settings(callback_token=SecretStr(TOKEN))
    add_sms_callbacks(
        app, settings, lp.broker, lp.clock, metrics, acknowledgement_id,
        stores=(lp.awaiting, lp.codes),
    )  # fmt: skip
    async with TestClient(TestServer(app)) as client:
        yield client


def aliyun_report(**overrides: Any) -> dict[str, Any]:
    return {
        "phone_number": MOBILE,
        "send_time": "2026-09-01 10:00:00",
        "report_time": "2026-09-01 10:00:07",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": "aliyun_sms-1",
        "out_id": KEY,
        **overrides,
    }


def counted(metrics: Metrics, name: str, provider: str, outcome: str) -> float:
    value = metrics.get_sample_value(f"{name}_total", {"provider": provider, "outcome": outcome})
    return value or 0.0


# -- the token ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/callbacks/aliyun/sms-report", {"code": 403, "msg": "forbidden"}),
        ("/callbacks/aliyun/sms-up", {"code": 403, "msg": "forbidden"}),
        ("/callbacks/tencent/sms-status", {"result": 403, "errmsg": "forbidden"}),
        ("/callbacks/tencent/sms-reply", {"result": 403, "errmsg": "forbidden"}),
    ],
)
@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x", TOKEN.upper()])
async def test_a_callback_without_the_token_is_refused_and_takes_nothing(
    client: TestClient, lp: Loop, path: str, answer: dict[str, Any], token: str | None
) -> None:
    params = {} if token is None else {"token": token}
    response = await client.post(path, params=params, json=[aliyun_report()])
    assert response.status == 403 and await response.json() == answer
    assert lp.broker.published == [] and lp.awaiting.items[KEY].report == ""


async def test_with_no_token_configured_every_callback_is_refused(
    lp: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    add_sms_callbacks(
        app, Settings(), lp.broker, lp.clock, Metrics(), acknowledgement_id,
        stores=(lp.awaiting, lp.codes),
    )  # fmt: skip
    assert "DUBAN_CALLBACK_TOKEN is unset" in caplog.text
    async with TestClient(TestServer(app)) as client:
        for token in ("", "None"):
            response = await client.post(
                "/callbacks/aliyun/sms-report", params={"token": token}, json=[aliyun_report()]
            )
            assert response.status == 403
    assert lp.broker.published == []


# -- the provider's answers -------------------------------------------------------------


async def test_an_aliyun_report_batch_is_taken_item_by_item_and_answered_as_aliyun_wants(
    client: TestClient, lp: Loop, metrics: Metrics
) -> None:
    batch = [
        "not an object",
        aliyun_report(success="maybe"),
        aliyun_report(),
        aliyun_report(),  # Aliyun pushes the same report again
        aliyun_report(out_id="H9:other:0:R9:aliyun_sms", biz_id="nobody"),
    ]
    response = await client.post(
        "/callbacks/aliyun/sms-report", params={"token": TOKEN}, json=batch
    )
    assert response.status == 200 and await response.json() == ALIYUN_OK
    assert [e["type"] for _, e, _ in lp.broker.published] == ["notice.reached"]
    name = "duban_ack_sms_reports"
    assert counted(metrics, name, "aliyun", "invalid") == 2
    assert counted(metrics, name, "aliyun", "reached") == 1
    assert counted(metrics, name, "aliyun", "duplicate") == 1
    assert counted(metrics, name, "aliyun", "unmatched") == 1


async def test_a_tencent_status_callback_is_answered_as_tencent_wants(
    templates: TemplateSet, metrics: Metrics
) -> None:
    lp = loop(templates)
    await lp.deliver(notice("tencent_sms", "email"))
    app = web.Application()
    settings = Settings(callback_token=SecretStr(TOKEN))
    add_sms_callbacks(
        app, settings, lp.broker, lp.clock, metrics, acknowledgement_id,
        stores=(lp.awaiting, lp.codes),
    )  # fmt: skip
    status = {
        "user_receive_time": "2026-09-01 10:00:09",
        "nationcode": "86",
        "mobile": MOBILE,
        "report_status": "FAIL",
        "errmsg": "MBBLACK",
        "description": "黑名单",
        "sid": "tencent_sms-1",
    }
    async with TestClient(TestServer(app)) as client:
        response = await client.post(
            "/callbacks/tencent/sms-status", params={"token": TOKEN}, json=[status, {"sid": 1}]
        )
        assert response.status == 200 and await response.json() == TENCENT_OK
    assert counted(metrics, "duban_ack_sms_reports", "tencent", "failed") == 1
    assert counted(metrics, "duban_ack_sms_reports", "tencent", "invalid") == 1
    await lp.follow_up()
    assert len(lp.mail) == 1


async def test_replies_are_taken_from_both_providers(
    client: TestClient, lp: Loop, metrics: Metrics
) -> None:
    code = lp.sms()[0].sms_params["code"]
    up = [{"phone_number": MOBILE, "content": "乱码", "send_time": "2026-09-01 10:01:00"}]
    response = await client.post("/callbacks/aliyun/sms-up", params={"token": TOKEN}, json=up)
    assert response.status == 200 and await response.json() == ALIYUN_OK
    assert lp.broker.published == []
    tencent = {"extend": "", "mobile": MOBILE, "nationcode": "86", "sign": "安全督办",
               "text": code, "time": 1788228060}  # fmt: skip
    response = await client.post(
        "/callbacks/tencent/sms-reply", params={"token": TOKEN}, json=tencent
    )
    assert response.status == 200 and await response.json() == TENCENT_OK
    assert [e["type"] for _, e, _ in lp.broker.published] == ["notice.acknowledged"]
    assert counted(metrics, "duban_ack_sms_replies", "aliyun", "no_code") == 1
    assert counted(metrics, "duban_ack_sms_replies", "tencent", "acknowledged") == 1


NOT_ARRAY = "the body is not a JSON array"


@pytest.mark.parametrize(
    ("path", "body", "answer"),
    [
        ("/callbacks/aliyun/sms-report", b"{not", {"code": 400, "msg": "the body is not JSON"}),
        ("/callbacks/aliyun/sms-up", b'{"a": 1}', {"code": 400, "msg": NOT_ARRAY}),
        ("/callbacks/tencent/sms-status", b'"x"', {"result": 400, "errmsg": NOT_ARRAY}),
    ],
)
async def test_a_body_that_is_no_push_at_all_gets_400(
    client: TestClient, path: str, body: bytes, answer: dict[str, Any]
) -> None:
    response = await client.post(path, params={"token": TOKEN}, data=body)
    assert response.status == 400 and await response.json() == answer


async def test_kafka_down_answers_503_so_the_provider_pushes_again(
    client: TestClient, lp: Loop
) -> None:
    lp.broker.fail_next = 1
    params = {"token": TOKEN}
    response = await client.post(
        "/callbacks/aliyun/sms-report", params=params, json=[aliyun_report()]
    )
    assert response.status == 503 and (await response.json())["code"] == 503
    response = await client.post(
        "/callbacks/aliyun/sms-report", params=params, json=[aliyun_report()]
    )
    assert response.status == 200
    assert len(lp.broker.of_type("notice.reached")) == 1


def test_the_ack_app_serves_the_four_callbacks() -> None:
    app = create_ack_app(Settings(), lp_broker(), secret=b"ack-secret-0123456789")
    paths = {r.canonical for r in app.router.resources()}
    assert {
        "/callbacks/aliyun/sms-report",
        "/callbacks/aliyun/sms-up",
        "/callbacks/tencent/sms-status",
        "/callbacks/tencent/sms-reply",
    } <= paths


def lp_broker() -> Any:
    class Broker:
        async def publish(self, *a: Any, **kw: Any) -> None: ...

        async def ping(self, timeout: float | None) -> bool:
            return True

    return Broker()


# -- reading the pushes ------------------------------------------------------------------


def test_the_documented_pushes_read_into_records() -> None:
    [report] = aliyun_reports([aliyun_report(phone_number="+8613900000001")])
    assert isinstance(report, DeliveryReport)
    assert (report.delivery_key, report.provider_id, report.mobile) == (KEY, "aliyun_sms-1", MOBILE)
    assert report.success and report.code == "DELIVERED"
    assert (
        report.reported_at is not None
        and report.reported_at.isoformat() == "2026-09-01T10:00:07+08:00"
    )
    sms_up = {"phone_number": MOBILE, "content": " 4271 ", "dest_code": "1234",
              "send_time": "2026-09-01 10:01:00", "sequence_id": 1234567890}  # fmt: skip
    [up] = aliyun_uplinks([sms_up])
    assert up == UplinkSms("aliyun", MOBILE, "4271", up.sent_at) and up.sent_at is not None
    [status] = tencent_reports([{"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86",
                                 "mobile": MOBILE, "report_status": "FAIL", "errmsg": "MBBLACK",
                                 "description": "黑名单", "sid": "s-1"}])  # fmt: skip
    assert isinstance(status, DeliveryReport) and not status.success
    assert (status.provider_id, status.code, status.delivery_key) == ("s-1", "MBBLACK", None)
    [reply] = tencent_uplinks({"extend": "", "mobile": MOBILE, "nationcode": "86", "sign": "签名",
                               "text": "4271", "time": 1457336869})  # fmt: skip
    assert isinstance(reply, UplinkSms) and reply.sent_at is not None
    assert reply.sent_at.isoformat() == "2016-03-07T07:47:49+00:00"


def test_a_bad_item_is_told_apart_and_names_no_personal_data() -> None:
    items = aliyun_uplinks([{"phone_number": "12345", "content": "4271"}, 7])
    assert items == [
        Unreadable(0, "not a mainland mobile number"),
        Unreadable(1, "not a JSON object"),
    ]
    assert aliyun_reports([aliyun_report(out_id="", biz_id="")]) == [
        Unreadable(0, "neither out_id nor biz_id")
    ]
    with pytest.raises(NotABatch):
        tencent_reports({"sid": "x"})
