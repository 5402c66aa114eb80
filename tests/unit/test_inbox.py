"""The local inbox page (deploy/local/inbox.py): messages from the stand-ins' spool and the
mail folder, per person and channel, with the receipts duban published about each, and
the SMS buttons that make a stand-in push a delivery report or a reply."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from deploy.local.inbox import Inbox, create_inbox_app
from deploy.local.inbox_data import (
    MailFolder,
    Spool,
    directory_names,
    parse_delivery_key,
    token_names,
)
from deploy.local.inbox_receipts import Receipts
from deploy.local.standins.aliyun_sms import FakeAliyunSms
from services.acktoken import AckClaim, sign

NOTICE = "HZ-1:major:report"
LINK = "http://127.0.0.1:8086/ack?t=" + sign(b"s", AckClaim(NOTICE, "P-BT-0042-01", 2_000_000_000))


def line(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "m1",
        "time": "2026-09-01T02:00:05+00:00",
        "channel": "aliyun_sms",
        "standin": None,
        "recipient": {"mobile": "13800000001"},
        "text": "【安全督办】鑫源化工存在重大事故隐患……回复4271确认收到。",
        "ack_links": [],
        "provider_message_id": "900619746936499^0",
        "delivery_key": None,
    }
    return base | fields


def write_spool(path: Path, *lines: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for item in lines:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")


def receipt(kind: str, channel: str, person: str, **data: Any) -> dict[str, Any]:
    body = {"notice_id": NOTICE, "occurrence": 0, "person_id": person, "channel": channel}
    return {"type": kind, "data": body | {"attempts": 1} | data}


def write_mail(folder: Path, to: str, text: str, key: str) -> None:
    mail = EmailMessage()
    mail["Subject"] = "重大事故隐患告知书"
    mail["Delivered-To"] = to
    mail["X-Duban-Delivery"] = key
    mail.set_content(text)
    folder.mkdir(exist_ok=True)
    (folder / f"20260901T020006.000001Z_{to}.eml").write_bytes(bytes(mail))


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return Inbox(
        Spool(tmp_path / "messages.jsonl"),
        MailFolder(tmp_path / "mail"),
        Receipts(),
        directory_names(),
    )


@pytest.fixture
async def client(inbox: Inbox) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_inbox_app(inbox))) as test_client:
        yield test_client


def test_a_delivery_key_and_an_ack_link_name_their_notice_and_person() -> None:
    assert parse_delivery_key("H:1:x:2:P-1:aliyun_sms") == ("H:1:x", 2, "P-1", "aliyun_sms")
    assert parse_delivery_key("no-key") is None
    assert token_names(LINK) == (NOTICE, "P-BT-0042-01")
    assert token_names("http://x/ack?t=garbage") is None


def test_receipts_are_matched_by_provider_id_key_and_ack_link(inbox: Inbox, tmp_path: Path) -> None:
    key = f"{NOTICE}:0:P-BT-0042-02:email"
    write_spool(
        tmp_path / "messages.jsonl",
        line(),  # matched by the provider's id
        line(
            id="m2",
            channel="wecom_app",
            recipient={"userid": "WangJianGuo"},
            text="查看并确认",
            ack_links=[LINK],
            provider_message_id=None,
        ),
    )
    write_mail(tmp_path / "mail", "lihaifeng@xinyuan-chem.example", "告知书正文", key)
    r = inbox.receipts
    sms = {"provider_message_id": "900619746936499^0", "delivered_at": "2026-09-01T02:00:05Z"}
    r.add(receipt("notice.delivered", "aliyun_sms", "P-BT-0042-01", **sms))
    r.add(receipt("notice.reached", "aliyun_sms", "P-BT-0042-01", reached_at="x"))
    app = {"delivered_at": "2026-09-01T02:00:06Z"}
    r.add(receipt("notice.delivered", "wecom_app", "P-BT-0042-01", **app))
    r.add(receipt("notice.reached", "wecom_app", "P-BT-0042-01", reached_at="x", read=True))
    r.add(receipt("notice.failed", "email", "P-BT-0042-02", reason="550 no such user"))
    r.add(
        {
            "type": "notice.acknowledged",
            "data": {"notice_id": NOTICE, "person_id": "P-BT-0042-01", "channel": "sms_reply"},
        }
    )
    rows = {row["m"].id: row for row in inbox.rows()}
    assert [s.label for s in rows["m1"]["statuses"]] == ["已受理", "已送达", "已确认"]
    assert rows["m1"]["statuses"][2].detail == "经短信回复"
    assert [s.label for s in rows["m2"]["statuses"]] == ["已受理", "已读", "已确认"]
    [mail] = [row for row in rows.values() if row["m"].channel == "email"]
    assert [s.label for s in mail["statuses"]] == ["发送失败"]
    assert mail["person"] == "P-BT-0042-02" and mail["who"].startswith("李海峰")
    assert rows["m1"]["who"] == "王建国（13800000001）" and rows["m1"]["person"] == "P-BT-0042-01"


def test_a_spool_line_being_written_waits_and_a_bad_line_is_skipped(
    inbox: Inbox, tmp_path: Path
) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_text('{"broken": \n' + json.dumps(line()) + "\n" + '{"id": "half', encoding="utf-8")
    assert [m.id for m in inbox.messages()] == ["m1"]
    with path.open("a", encoding="utf-8") as out:
        out.write('", "x": 1}\n')  # the rest of the half line: complete now, but not a message
    write_spool(path, line(id="m3"))
    assert sorted(m.id for m in inbox.messages()) == ["m1", "m3"]  # each once


async def test_the_page_lists_messages_per_person_and_channel(
    client: TestClient, tmp_path: Path
) -> None:
    write_spool(
        tmp_path / "messages.jsonl",
        line(),
        line(
            id="m2",
            channel="wecom",
            recipient={"group": "wecom", "mentioned": ["WangJianGuo"]},
            text="<b>通报全文</b>",
            provider_message_id=None,
        ),
    )
    write_mail(
        tmp_path / "mail", "wangjianguo@xinyuan-chem.example", "邮件正文", "K:0:P-BT-0042-01:email"
    )
    page = await (await client.get("/")).text()
    assert "共 3 条消息" in page and "阿里云短信" in page and "企业微信群" in page
    # Unknown until a receipt names the person: everyone the example gives this mobile.
    assert "安委办值班室 / 王建国（13800000001）" in page and "&lt;b&gt;通报全文&lt;/b&gt;" in page
    assert "@ 王建国（WangJianGuo）" in page  # whom the group post mentions
    assert "推送回执：成功" not in page  # this SMS has no stand-in to push from
    only_mail = await (await client.get("/", params={"channel": "email"})).text()
    assert "邮件正文" in only_mail and "通报全文" not in only_mail
    one_person = await (await client.get("/", params={"person": "wecom"})).text()
    assert "通报全文" in one_person and "邮件正文" not in one_person
    api = await (await client.get("/api/messages")).json()
    assert {m["channel"] for m in api} == {"aliyun_sms", "wecom", "email"}


async def test_the_version_changes_when_a_receipt_arrives(
    client: TestClient, inbox: Inbox, tmp_path: Path
) -> None:
    write_spool(tmp_path / "messages.jsonl", line())
    before = await (await client.get("/api/version")).text()
    assert await (await client.get("/api/version")).text() == before
    sms = {"provider_message_id": "900619746936499^0", "delivered_at": "2026-09-01T02:00:05Z"}
    inbox.receipts.add(receipt("notice.delivered", "aliyun_sms", "P-BT-0042-01", **sms))
    assert await (await client.get("/api/version")).text() != before


@pytest.fixture
async def duban_callbacks() -> AsyncIterator[tuple[str, list[Any]]]:
    """Stands for the ack service's SMS callbacks: records what is pushed, answers OK."""
    pushed: list[Any] = []

    async def take(request: web.Request) -> web.Response:
        pushed.append((request.path, await request.json()))
        return web.json_response({"code": 0, "msg": "接收成功"})

    app = web.Application()
    app.router.add_post("/callbacks/aliyun/{kind}", take)
    async with TestServer(app) as server:
        yield str(server.make_url("/callbacks/aliyun")), pushed


async def test_the_sms_buttons_make_the_stand_in_push_a_report_and_a_reply(
    client: TestClient, tmp_path: Path, duban_callbacks: tuple[str, list[Any]]
) -> None:
    base, pushed = duban_callbacks
    async with FakeAliyunSms(report_url=f"{base}/sms-report", reply_url=f"{base}/sms-up") as fake:
        fake.accepted.append(
            {"params": {"PhoneNumbers": "13800000001", "OutId": "K"}, "biz_id": "900619746936499^0"}
        )
        write_spool(tmp_path / "messages.jsonl", line(standin=fake.base_url))
        page = await (await client.get("/")).text()
        assert "推送回执：成功" in page and "推送回执：失败" in page and "发送回复" in page
        ok = await client.post(
            "/messages/m1/report", data={"outcome": "success", "channel": "aliyun_sms"}
        )
        failed = await client.post("/messages/m1/report", data={"outcome": "failure"})
        reply = await client.post("/messages/m1/reply", data={"text": "4271"})
    for answer in (ok, failed, reply):
        assert answer.status == 200 and "短信模拟服务已推送" in await answer.text()
    assert ok.url.query["channel"] == "aliyun_sms"  # back to the page as it was filtered
    [(p1, [r1]), (p2, [r2]), (p3, [up])] = pushed
    assert (
        p1.endswith("/sms-report") and r1["success"] is True and r1["biz_id"] == "900619746936499^0"
    )
    assert p2.endswith("/sms-report") and r2["success"] is False and r2["err_code"] == "MBBLACK"
    assert (
        p3.endswith("/sms-up") and up["content"] == "4271" and up["phone_number"] == "13800000001"
    )


async def test_a_stand_in_that_is_gone_is_said_so(client: TestClient, tmp_path: Path) -> None:
    write_spool(tmp_path / "messages.jsonl", line(standin="http://127.0.0.1:9"))
    answer = await client.post("/messages/m1/report", data={"outcome": "success"})
    assert answer.status == 200 and "连不上短信模拟服务" in await answer.text()
    assert (await client.post("/messages/nope/report", data={})).status == 404
