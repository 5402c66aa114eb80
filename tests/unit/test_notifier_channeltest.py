"""`duban notify test`: one test message through one channel, against the local provider fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.channeltest import NotifyTestError, build_test_message, send_test
from services.cli import app
from services.config.load import load_config
from services.notifier.channels import build_channel
from services.notifier.setup import channel_settings
from tests.providers import FakeAliyunSms, FakeSmtpServer, FakeWeCom

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
REMINDER = "${unit}的隐患“${title}”整改期限为${deadline}，还有${days}天，请按期整改到位。"


def aliyun_env(fake: FakeAliyunSms) -> dict[str, str]:
    return {
        "DUBAN_ALIYUN_SMS_ENDPOINT": fake.endpoint,
        "DUBAN_ALIYUN_ACCESS_KEY_ID": fake.access_key_id,
        "DUBAN_ALIYUN_ACCESS_KEY_SECRET": fake.access_key_secret,
        "DUBAN_ALIYUN_SMS_SIGN_NAME": "安全督办",
    }


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


async def test_an_sms_test_uses_the_channels_own_template_and_says_it_is_a_test() -> None:
    async with FakeAliyunSms(templates={"SMS_480000002": REMINDER}) as fake:
        answer = await send_test(EXAMPLE, "aliyun_sms", "13800138000", aliyun_env(fake))
    assert answer.startswith(
        "OK: aliyun_sms (aliyun_sms) accepted the test message for 138****8000"
    )
    assert "Code=OK" in answer and "message id" in answer
    sms: dict[str, Any] = fake.accepted[0]
    assert sms["params"]["TemplateCode"] == "SMS_480000002"
    assert "测试" in sms["template_params"]["title"] and "无需处理" in sms["rendered"]


async def test_a_robot_test_needs_no_address_and_shows_the_robots_answer() -> None:
    async with FakeWeCom() as fake:
        env = {"DUBAN_WECOM_WEBHOOK_URL": fake.webhook_url}
        answer = await send_test(EXAMPLE, "wecom", None, env)
    assert answer == "OK: wecom (wecom) accepted the test message: errcode=0 ok"
    assert fake.accepted[0]["markdown"]["content"].startswith("**【测试，无需处理】")


async def test_an_email_test_goes_to_the_given_address() -> None:
    async with FakeSmtpServer() as server:
        env = {"DUBAN_SMTP_HOST": "127.0.0.1", "DUBAN_SMTP_PORT": str(server.port)}
        answer = await send_test(EXAMPLE, "email", "ops@example.gov.cn", env)
    assert answer.startswith("OK: email (email) accepted the test message for o***@example.gov.cn")
    [mail] = server.messages
    assert mail.rcpt_tos == ["ops@example.gov.cn"]
    assert str(make_header(decode_header(mail.message["Subject"]))).startswith("【测试，无需处理】")


@pytest.mark.parametrize(
    ("channel", "to", "reason"),
    [
        ("email", None, "needs --to with an email address"),
        ("email", "13800138000", "needs --to with an email address"),
        ("aliyun_sms", None, "needs --to with a mobile number"),
    ],
)
def test_channels_that_need_an_address_insist_on_one(
    channel: str, to: str | None, reason: str
) -> None:
    config = load_config(EXAMPLE)
    env = {"DUBAN_SMTP_HOST": "h", **aliyun_env(FakeAliyunSms())}
    built = build_channel(
        config.channels.channels[channel].type,
        channel_settings(config.channels.channels[channel], env),
        name=channel,
    )
    with pytest.raises(NotifyTestError, match=reason):
        build_test_message(config, built, to, datetime(2026, 9, 1, tzinfo=UTC))


async def duban(*args: str, env: dict[str, str] | None = None) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_the_command_exits_1_with_the_providers_reason() -> None:
    async with FakeAliyunSms(templates={"SMS_480000002": REMINDER}) as fake:
        fake.fail_next(code="isv.AMOUNT_NOT_ENOUGH")
        args = ("notify", "test", "--config", str(EXAMPLE), "--channel", "aliyun_sms")
        result = await duban(*args, "--to", "13800138000", env=aliyun_env(fake))
    assert result.exit_code == 1
    assert "failed: [aliyun_sms] Aliyun SMS isv.AMOUNT_NOT_ENOUGH" in result.output
    assert "permanent" in result.output and "13800138000" not in result.output


async def test_the_command_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUBAN_WECOM_WEBHOOK_URL", raising=False)
    off = await duban("notify", "test", "--config", str(EXAMPLE), "--channel", "wecom")
    assert off.exit_code == 1
    assert "failed: channel 'wecom' is off: set DUBAN_WECOM_WEBHOOK_URL" in off.output
    unknown = await duban("notify", "test", "--config", str(EXAMPLE), "--channel", "sms")
    assert unknown.exit_code == 1 and "no channel named 'sms'" in unknown.output
