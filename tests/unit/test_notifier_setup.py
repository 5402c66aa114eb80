"""Channels from the example channels.yaml and the environment; SMS template consistency."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.config.channels import SmsTemplate, unset_variables
from services.config.load import Config, load_config
from services.notifier.acklinks import AckLinks
from services.notifier.render import TemplateSet
from services.notifier.setup import build_channels, channel_settings, sms_templates
from services.notifier.smscheck import served_by, sms_template_problems
from services.settings import Settings
from tests.fakes import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
FULL_ENV = {
    "DUBAN_SMTP_HOST": "smtp.example.gov.cn",
    "DUBAN_SMTP_PORT": "465",
    "DUBAN_SMTP_USER": "duban@example.gov.cn",
    "DUBAN_SMTP_PASSWORD": "smtp-password-value",
    "DUBAN_SMTP_FROM": "duban@example.gov.cn",
    "DUBAN_SMTP_TLS": "tls",
    "DUBAN_WECOM_WEBHOOK_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1",
    "DUBAN_DINGTALK_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?access_token=t-1",
    "DUBAN_DINGTALK_SECRET": "SECdingtalk-secret-value",
    "DUBAN_FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/h-1",
    "DUBAN_FEISHU_SECRET": "feishu-secret-value",
    "DUBAN_ALIYUN_ACCESS_KEY_ID": "LTAI-id",
    "DUBAN_ALIYUN_ACCESS_KEY_SECRET": "aliyun-secret-value",
    "DUBAN_ALIYUN_SMS_SIGN_NAME": "安全督办",
    "DUBAN_TENCENT_SECRET_ID": "AKID-id",
    "DUBAN_TENCENT_SECRET_KEY": "tencent-secret-value",
    "DUBAN_TENCENT_SMS_APP_ID": "1400000001",
    "DUBAN_TENCENT_SMS_SIGN_NAME": "安全督办",
    "DUBAN_SMS_GATEWAY_URL": "https://sms.example.gov.cn/send",
    "DUBAN_SMS_GATEWAY_TOKEN": "gateway-token-value",
    "DUBAN_WEBHOOK_URL": "https://oa.example.gov.cn/duban",
    "DUBAN_WEBHOOK_SECRET": "webhook-secret-value",
    "DUBAN_WECOM_CORP_ID": "ww-corp",
    "DUBAN_WECOM_AGENT_ID": "1000002",
    "DUBAN_WECOM_APP_SECRET": "wecom-app-secret-value",
    "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
    "DUBAN_DINGTALK_APP_SECRET": "dingtalk-app-secret-value",
    "DUBAN_DINGTALK_AGENT_ID": "2000001",
    "DUBAN_FEISHU_APP_ID": "cli_app",
    "DUBAN_FEISHU_APP_SECRET": "feishu-app-secret-value",
}


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def test_every_channel_type_is_configured_and_built_from_the_environment(config: Config) -> None:
    built = build_channels(config, FULL_ENV)
    assert {name: c.family for name, c in built.items()} == {
        "wecom": "chat",
        "dingtalk": "chat",
        "feishu": "chat",
        "aliyun_sms": "sms",
        "tencent_sms": "sms",
        "sms_gateway": "sms",
        "email": "email",
        "webhook": "webhook",
        "wecom_app": "chat",
        "dingtalk_work": "chat",
        "feishu_app": "chat",
    }


def test_endpoints_default_to_the_real_providers(config: Config) -> None:
    aliyun: Any = channel_settings(config.channels.channels["aliyun_sms"], FULL_ENV)
    tencent: Any = channel_settings(config.channels.channels["tencent_sms"], FULL_ENV)
    assert aliyun.endpoint == "https://dysmsapi.aliyuncs.com/"
    assert tencent.endpoint == "https://sms.tencentcloudapi.com/"
    moved = {**FULL_ENV, "DUBAN_ALIYUN_SMS_ENDPOINT": "http://127.0.0.1:9/"}
    aliyun = channel_settings(config.channels.channels["aliyun_sms"], moved)
    assert aliyun.endpoint == "http://127.0.0.1:9/"


def test_smtp_settings_read_the_documented_variables(config: Config) -> None:
    email: Any = channel_settings(config.channels.channels["email"], FULL_ENV)
    assert (email.host, email.port, email.security) == ("smtp.example.gov.cn", 465, "tls")
    assert email.username == "duban@example.gov.cn"
    assert email.password == "smtp-password-value"
    only_host: Any = channel_settings(config.channels.channels["email"], {"DUBAN_SMTP_HOST": "h"})
    assert (only_host.port, only_host.security, only_host.username) == (25, "none", None)


def test_a_channel_missing_a_variable_is_off_with_one_log_line(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    env = {k: v for k, v in FULL_ENV.items() if k != "DUBAN_DINGTALK_SECRET"}
    with caplog.at_level(logging.WARNING, logger="duban.notifier"):
        built = build_channels(config, env)
    assert "dingtalk" not in built and len(built) == 10
    [line] = [r.getMessage() for r in caplog.records]
    assert line == "channel dingtalk is off: set DUBAN_DINGTALK_SECRET"


def test_no_secret_value_reaches_the_log(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        build_channels(config, {k: v for k, v in FULL_ENV.items() if "SMTP" not in k})
    text = caplog.text
    assert text and not any(v in text for k, v in FULL_ENV.items() if "SECRET" in k)


def test_sms_templates_map_every_kind_with_the_rendered_parameter_names(
    config: Config, templates: TemplateSet
) -> None:
    assert sms_template_problems(config, templates) == []
    table = sms_templates(config)["aliyun_sms"]
    # `code` is no rendered parameter: the notifier fills in the reply code (not a problem)
    circular = ("SMS_480000004", ("unit", "level", "title", "overdue", "code"))
    assert table["escalation.circular"] == circular


def test_a_parameter_no_template_renders_is_reported(
    config: Config, templates: TemplateSet
) -> None:
    broken = _with_sms(config, "aliyun_sms", {"reminder": ("SMS_1", ("unit", "titel"))})
    problems = sms_template_problems(broken, templates)
    assert any("templates.reminder: parameter 'titel' is not rendered" in p for p in problems)
    assert any("no SMS template for report, verification" in p for p in problems)


def test_a_kind_key_serves_its_actions_and_default_serves_the_rest() -> None:
    keys = {"escalation", "escalation.letter", "default"}
    assert served_by("escalation.letter", keys) == [("escalation", "letter")]
    assert ("escalation", "exposure") in served_by("escalation", keys)
    assert ("escalation", "letter") not in served_by("escalation", keys)
    assert ("report", None) in served_by("default", keys)


def _with_sms(config: Config, name: str, table: dict[str, tuple[str, tuple[str, ...]]]) -> Config:
    entry = config.channels.channels[name]
    templates = {k: SmsTemplate(template=t, params=p) for k, (t, p) in table.items()}
    channels = {**config.channels.channels, name: entry.model_copy(update={"templates": templates})}
    return replace(config, channels=config.channels.model_copy(update={"channels": channels}))


def test_channels_take_their_variables_from_the_settings_environment(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env(EXAMPLE, FULL_ENV)
    monkeypatch.setenv("DUBAN_WEBHOOK_SECRET", "changed-after-start")  # not read again
    built = build_channels(config, settings.environment())
    assert len(built) == 11
    webhook: Any = channel_settings(config.channels.channels["webhook"], settings.environment())
    assert webhook.secret == "webhook-secret-value"
    assert unset_variables(config.channels.channels["webhook"], settings.environment()) == []
    assert unset_variables(config.channels.channels["webhook"], {}) == [
        "DUBAN_WEBHOOK_URL",
        "DUBAN_WEBHOOK_SECRET",
    ]


def test_ack_links_are_signed_with_the_settings_ack_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(datetime(2026, 9, 1, 2, 0, tzinfo=UTC))
    env = {"DUBAN_ACK_SECRET": "ack-secret-value-0123", "DUBAN_ACK_BASE_URL": "https://a.example/"}
    links = AckLinks.from_env(Settings.from_env(EXAMPLE, env), clock)
    assert links.secret == b"ack-secret-value-0123"
    assert links.base_url == "https://a.example/"
    with caplog.at_level(logging.WARNING, logger="duban.notifier"):
        unsigned = AckLinks.from_env(Settings.from_env(EXAMPLE, {}), clock)
    assert unsigned.secret is None
    assert "DUBAN_ACK_SECRET is unset" in caplog.text
