"""`duban notify test` through the work-chat apps, against their stand-ins."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.channeltest import NotifyTestError, build_test_message, send_test
from services.cli import app
from services.config.load import load_config
from services.notifier.channels import build_channel
from services.notifier.setup import channel_settings
from tests.providers import FakeDingTalkWork, FakeFeishuApp, FakeWeComApp

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


def wecom_env(fake: FakeWeComApp) -> dict[str, str]:
    return {
        "DUBAN_WECOM_CORP_ID": fake.corp_id,
        "DUBAN_WECOM_AGENT_ID": str(fake.agent_id),
        "DUBAN_WECOM_APP_SECRET": fake.secret,
        "DUBAN_WECOM_API_BASE": fake.base_url,
    }


def dingtalk_env(fake: FakeDingTalkWork) -> dict[str, str]:
    return {
        "DUBAN_DINGTALK_APP_KEY": fake.app_key,
        "DUBAN_DINGTALK_APP_SECRET": fake.app_secret,
        "DUBAN_DINGTALK_AGENT_ID": str(fake.agent_id),
        "DUBAN_DINGTALK_API_BASE": fake.base_url,
    }


def feishu_env(fake: FakeFeishuApp) -> dict[str, str]:
    return {
        "DUBAN_FEISHU_APP_ID": fake.app_id,
        "DUBAN_FEISHU_APP_SECRET": fake.app_secret,
        "DUBAN_FEISHU_API_BASE": fake.base_url,
    }


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


async def test_a_wecom_app_test_reaches_the_userid_and_shows_the_answer() -> None:
    async with FakeWeComApp() as fake:
        answer = await send_test(EXAMPLE, "wecom_app", "ZhangSan", wecom_env(fake))
    assert answer == (
        "OK: wecom_app (wecom_app) accepted the test message for ZhangSan: "
        "errcode=0 ok (message id wecom-msg-1)"
    )
    [body] = fake.delivered
    assert body["touser"] == "ZhangSan" and body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("**【测试，无需处理】")


async def test_a_dingtalk_work_test_reaches_the_userid() -> None:
    async with FakeDingTalkWork() as fake:
        answer = await send_test(EXAMPLE, "dingtalk_work", "manager4471", dingtalk_env(fake))
    assert answer.startswith("OK: dingtalk_work (dingtalk_work) accepted the test message for")
    assert "errcode=0 ok (task accepted" in answer and "(message id 1)" in answer
    [msg] = fake.delivered
    assert msg["to"] == "manager4471" and msg["markdown"]["title"].startswith("【测试，无需处理】")


async def test_a_feishu_app_test_reaches_the_open_id() -> None:
    async with FakeFeishuApp() as fake:
        answer = await send_test(EXAMPLE, "feishu_app", "ou_0123456789abcdef", feishu_env(fake))
    assert answer.endswith("code=0 success (message id om_00000001)")
    [msg] = fake.delivered
    assert msg["receive_id"] == "ou_0123456789abcdef"
    assert json.loads(msg["content"])["header"]["title"]["content"].startswith("【测试，无需处理】")


@pytest.mark.parametrize(
    ("channel", "field"),
    [
        ("wecom_app", "wecom_userid"),
        ("dingtalk_work", "dingtalk_userid"),
        ("feishu_app", "feishu_open_id"),
    ],
)
def test_an_app_test_needs_the_persons_id(channel: str, field: str) -> None:
    config = load_config(EXAMPLE)
    env = {
        **wecom_env(FakeWeComApp()),
        **dingtalk_env(FakeDingTalkWork()),
        **feishu_env(FakeFeishuApp()),
    }
    entry = config.channels.channels[channel]
    built = build_channel(entry.type, channel_settings(entry, env), name=channel)
    with pytest.raises(NotifyTestError, match=f"needs --to with the person's {field}"):
        build_test_message(config, built, None, datetime(2026, 9, 1, tzinfo=UTC))


async def duban(*args: str, env: dict[str, str]) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_the_command_prints_the_platforms_refusal_and_exits_1() -> None:
    async with FakeWeComApp(users={"someone-else"}) as fake:
        args = ("notify", "test", "--config", str(EXAMPLE), "--channel", "wecom_app")
        result = await duban(*args, "--to", "ZhangSan", env=wecom_env(fake))
    assert result.exit_code == 1
    assert "failed: [wecom_app] WeCom errcode 81013: user & party & tag all invalid" in (
        result.output
    )
    assert "permanent" in result.output and fake.secret not in result.output
