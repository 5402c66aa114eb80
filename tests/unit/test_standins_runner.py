"""`python -m deploy.local.standins`: every provider stand-in, the example config pointed
at them, and each accepted message in the spool as its recipient sees it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from deploy.local.standins.__main__ import shell_lines
from deploy.local.standins.example import EXAMPLE, sms_texts
from deploy.local.standins.runner import Served, build, environment
from deploy.local.standins.spool import Spool
from services.notifier.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsSettings
from services.notifier.channels.feishu_app import FeishuAppChannel, FeishuAppSettings
from services.notifier.channels.tencent_sms import TencentSmsChannel, TencentSmsSettings
from services.notifier.channels.wecom_app import WeComAppChannel, WeComAppSettings
from tests.providers import sample_message

ALL_CHANNELS = {
    "wecom",
    "dingtalk",
    "feishu",
    "aliyun_sms",
    "tencent_sms",
    "sms_gateway",
    "webhook",
    "wecom_app",
    "dingtalk_work",
    "feishu_app",
}
ACK = "http://127.0.0.1:8086/ack?t=WyJIMSIsIlIxIiwxXQ.c2ln"
REPORT = {
    "unit": "鑫源化工",
    "level": "重大事故隐患",
    "title": "储罐区报警器失效",
    "deadline": "2026年12月1日",
}


def spooled(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[dict[str, Served]]:
    """Every stand-in, on free ports, writing to tmp_path/messages.jsonl."""
    items = build(Spool(tmp_path / "messages.jsonl"), base_port=8120)
    for item in items:
        item.fake.port = 0  # free ports: tests run side by side with `make run`
        await item.fake.start()
    try:
        yield {item.channel: item for item in items}
    finally:
        for item in items:
            await item.fake.stop()


def test_every_channel_has_a_stand_in_on_its_fixed_port(tmp_path: Path) -> None:
    items = build(Spool(tmp_path / "m.jsonl"), base_port=18120)
    assert {item.channel for item in items} == ALL_CHANNELS
    ports = sorted(item.fake.port for item in items)
    assert ports == list(range(18120, 18130))


def test_the_example_channels_are_all_pointed_at_the_stand_ins(tmp_path: Path) -> None:
    items = build(Spool(tmp_path / "m.jsonl"), base_port=18120)
    env = environment(items)
    text = (EXAMPLE / "channels.yaml").read_text(encoding="utf-8")
    # Every variable channels.yaml needs (no default), but the SMTP ones the Makefile sets.
    needed = set(re.findall(r"\$\{(DUBAN_[A-Z0-9_]+)\}", text)) - {"DUBAN_SMTP_HOST"}
    assert needed and needed <= set(env), needed - set(env)
    for name in ("DUBAN_WECOM_API_BASE", "DUBAN_DINGTALK_API_BASE", "DUBAN_FEISHU_API_BASE"):
        assert env[name].startswith("http://127.0.0.1:181")
    assert env["DUBAN_ALIYUN_SMS_ENDPOINT"] == "http://127.0.0.1:18123/"
    assert env["DUBAN_CALLBACK_TOKEN"]


def test_the_shell_lines_keep_what_is_set_already() -> None:
    lines = shell_lines({"DUBAN_A": "it's 安全督办 & more", "DUBAN_B": "default"})
    script = f'{lines}\necho "$DUBAN_A|$DUBAN_B"'
    out = subprocess.run(
        ["bash", "-c", script],
        env={"DUBAN_B": "mine", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "it's 安全督办 & more|mine\n"


def test_the_sms_stand_ins_know_the_example_templates() -> None:
    texts = sms_texts()
    report = next(t for t in texts["aliyun_sms"].values() if t.key == "report")
    values = {**REPORT, "code": "4271"}
    assert report.fill(values) == (
        "鑫源化工存在重大事故隐患“储罐区报警器失效”，请立即组织整改，整改期限2026年12月1日。"
        "回复4271确认收到。"
    )
    tencent = next(t for t in texts["tencent_sms"].values() if t.key == "report")
    in_order = [values[name] for name in tencent.params]
    assert tencent.fill(in_order) == report.fill(values)  # by position


async def test_an_aliyun_sms_is_spooled_as_the_recipient_reads_it(
    served: dict[str, Served], tmp_path: Path
) -> None:
    fake = served["aliyun_sms"].fake
    code = next(c for c, t in sms_texts()["aliyun_sms"].items() if t.key == "report")
    params = {p: REPORT.get(p, "1234") for p in sms_texts()["aliyun_sms"][code].params}
    settings = AliyunSmsSettings(
        access_key_id=fake.access_key_id,  # type: ignore[attr-defined]
        access_key_secret=fake.access_key_secret,  # type: ignore[attr-defined]
        sign_name="安全督办",
        endpoint=fake.endpoint,  # type: ignore[attr-defined]
    )
    channel = AliyunSmsChannel(settings)
    result = await channel.send(sample_message(sms_template=code, sms_params=params))
    await channel.aclose()
    [line] = spooled(tmp_path / "messages.jsonl")
    assert line["channel"] == "aliyun_sms" and line["recipient"] == {"mobile": "13800138000"}
    assert str(line["text"]).startswith("【安全督办】鑫源化工存在重大事故隐患“储罐区报警器失效”")
    assert line["provider_message_id"] == result.provider_message_id
    assert line["standin"] == fake.base_url


async def test_a_tencent_sms_is_filled_from_its_positional_parameters(
    served: dict[str, Served], tmp_path: Path
) -> None:
    fake = served["tencent_sms"].fake
    code = next(c for c, t in sms_texts()["tencent_sms"].items() if t.key == "report")
    params = {p: REPORT.get(p, "1234") for p in sms_texts()["tencent_sms"][code].params}
    settings = TencentSmsSettings(
        secret_id=fake.secret_id,  # type: ignore[attr-defined]
        secret_key=fake.secret_key,  # type: ignore[attr-defined]
        sdk_app_id=fake.sdk_app_id,  # type: ignore[attr-defined]
        sign_name="安全督办",
        endpoint=fake.endpoint,  # type: ignore[attr-defined]
    )
    channel = TencentSmsChannel(settings)
    result = await channel.send(sample_message(sms_template=code, sms_params=params))
    await channel.aclose()
    [line] = spooled(tmp_path / "messages.jsonl")
    assert line["recipient"] == {"mobile": "13800138000"}
    assert "鑫源化工存在重大事故隐患“储罐区报警器失效”" in str(line["text"])
    assert line["provider_message_id"] == result.provider_message_id


async def test_a_robot_post_is_spooled_with_its_ack_link(
    served: dict[str, Served], tmp_path: Path
) -> None:
    fake = served["wecom"].fake
    body = {"msgtype": "markdown", "markdown": {"content": f"## 通报\n[查看并确认]({ACK})"}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.webhook_url, json=body) as answer,  # type: ignore[attr-defined]
    ):
        assert (await answer.json())["errcode"] == 0
    [line] = spooled(tmp_path / "messages.jsonl")
    assert line["channel"] == "wecom" and line["recipient"] == {"group": "wecom", "mentioned": []}
    assert "## 通报" in str(line["text"]) and line["ack_links"] == [ACK]


async def test_a_refused_request_is_not_spooled(served: dict[str, Served], tmp_path: Path) -> None:
    fake = served["wecom"].fake
    url = fake.webhook_url.replace("wecom-test-key", "wrong")  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session, session.post(url, json={}) as answer:
        assert (await answer.json())["errcode"] == 93000
    assert not (tmp_path / "messages.jsonl").exists()


async def test_app_messages_are_spooled_with_their_receiver_and_ack_link(
    served: dict[str, Served], tmp_path: Path
) -> None:
    wecom, feishu = served["wecom_app"].fake, served["feishu_app"].fake
    sent = [
        WeComAppChannel(
            WeComAppSettings(
                corp_id=wecom.corp_id,  # type: ignore[attr-defined]
                agent_id=wecom.agent_id,  # type: ignore[attr-defined]
                secret=wecom.secret,  # type: ignore[attr-defined]
                api_base=wecom.base_url,
            )
        ),
        FeishuAppChannel(
            FeishuAppSettings(
                app_id=feishu.app_id,  # type: ignore[attr-defined]
                app_secret=feishu.app_secret,  # type: ignore[attr-defined]
                api_base=feishu.base_url,
            )
        ),
    ]
    message = sample_message(
        to_wecom_userid="WangJianGuo", to_feishu_open_id="ou_7d8a6e6df76215", ack_url=ACK
    )
    results = []
    for channel in sent:
        results.append(await channel.send(message))
        await channel.aclose()
    lines = spooled(tmp_path / "messages.jsonl")
    assert [line["channel"] for line in lines] == ["wecom_app", "feishu_app"]
    assert [line["recipient"] for line in lines] == [
        {"userid": "WangJianGuo"},
        {"userid": "ou_7d8a6e6df76215"},
    ]
    for line, result in zip(lines, results, strict=True):
        assert line["ack_links"] == [ACK] and "3号车间配电箱未上锁" in str(line["text"])
        assert line["provider_message_id"] == result.provider_message_id
