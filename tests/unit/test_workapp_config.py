"""The personal work-chat apps in the config, the routing and the notifier's messages."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.notice import NoticeRequested
from services.config.channels import ChannelsFile, rate_limits
from services.config.load import load_config
from services.core.directory import Person
from services.core.routing import Routing, channel_order, family_of, usable
from services.notifier.channels import APP_KINDS, KINDS
from services.notifier.channels.dingtalk_work import DingTalkWorkSettings
from services.notifier.channels.feishu_app import FeishuAppSettings
from services.notifier.channels.wecom_app import WeComAppSettings
from services.notifier.messages import build_message, render_for
from services.notifier.render import TemplateSet
from services.notifier.setup import build_channels, channel_settings
from tests.unit.test_notifier_deliver import ScriptedChannel, deliverer, notice

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
ENV = {
    "DUBAN_WECOM_CORP_ID": "ww-corp",
    "DUBAN_WECOM_AGENT_ID": "1000002",
    "DUBAN_WECOM_APP_SECRET": "wecom-app-secret-value",
    "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
    "DUBAN_DINGTALK_APP_SECRET": "dingtalk-app-secret-value",
    "DUBAN_DINGTALK_AGENT_ID": "2000001",
    "DUBAN_FEISHU_APP_ID": "cli_app",
    "DUBAN_FEISHU_APP_SECRET": "feishu-app-secret-value",
}
APPS = ("wecom_app", "dingtalk_work", "feishu_app")


class AppLike(ScriptedChannel):
    """A scripted channel that asks for plain text too, as the work-chat apps do."""

    wants_text = True


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def test_the_example_defines_the_three_apps_with_the_documented_variables() -> None:
    config = load_config(EXAMPLE)
    assert set(APPS) <= set(config.channels.channels) and set(APPS) == APP_KINDS <= set(KINDS)
    built = build_channels(config, ENV)
    assert {name: built[name].family for name in APPS} == dict.fromkeys(APPS, "chat")
    wecom: Any = channel_settings(config.channels.channels["wecom_app"], ENV)
    assert wecom == WeComAppSettings("ww-corp", 1000002, "wecom-app-secret-value")
    assert wecom.api_base == "https://qyapi.weixin.qq.com" and "secret-value" not in repr(wecom)
    ding: Any = channel_settings(config.channels.channels["dingtalk_work"], ENV)
    assert ding == DingTalkWorkSettings("ding-app-key", "dingtalk-app-secret-value", 2000001)
    feishu: Any = channel_settings(config.channels.channels["feishu_app"], ENV)
    assert feishu == FeishuAppSettings("cli_app", "feishu-app-secret-value")


def test_api_bases_move_to_a_government_deployment() -> None:
    config = load_config(EXAMPLE)
    env = {**ENV, "DUBAN_WECOM_API_BASE": "https://zwwx.example.gov.cn"}
    wecom: Any = channel_settings(config.channels.channels["wecom_app"], env)
    assert wecom.api_base == "https://zwwx.example.gov.cn"


def test_officials_are_routed_to_their_work_chat_first_and_robots_are_not_personal() -> None:
    config = load_config(EXAMPLE)
    assert config.channels.routing.default[:3] == APPS
    robots = {"wecom", "dingtalk", "feishu"}
    orders = [config.channels.routing.default, *config.channels.routing.roles.values()]
    assert not robots & set(itertools.chain(*orders))


@pytest.mark.parametrize("kind", APPS)
def test_app_secrets_must_come_from_the_environment(kind: str) -> None:
    entry: dict[str, Any] = {
        "wecom_app": {"corp_id": "ww", "agent_id": "1", "secret": "plain-secret"},
        "dingtalk_work": {"app_key": "k", "agent_id": "1", "app_secret": "plain-secret"},
        "feishu_app": {"app_id": "cli", "app_secret": "plain-secret"},
    }[kind]
    with pytest.raises(ValidationError, match="secrets must come from the environment"):
        ChannelsFile.model_validate(
            {"channels": {kind: {"type": kind, **entry}}, "routing": {"default": [kind]}}
        )


def test_default_send_rates_follow_the_platforms() -> None:
    config = load_config(EXAMPLE)
    channels = config.channels.channels
    assert rate_limits(channels["feishu_app"]) == (1000, 50)
    assert rate_limits(channels["dingtalk_work"]) == (5000, None)
    assert rate_limits(channels["wecom_app"]) == (None, None)


def test_an_app_needs_the_persons_id_on_that_platform() -> None:
    types = {name: name for name in (*APPS, "aliyun_sms")}
    routing = Routing(default=(*APPS, "aliyun_sms"))
    nobody = Person(id="p1", mobile="13800000001")
    some = Person(id="p2", mobile="13800000002", wecom_userid="zs", feishu_open_id="ou_1")
    assert channel_order(nobody, "department", routing, types) == ["aliyun_sms"]
    assert channel_order(some, "department", routing, types) == [
        "wecom_app",
        "feishu_app",
        "aliyun_sms",
    ]
    assert [family_of(k) for k in APPS] == ["chat"] * 3
    assert usable(Person(id="p3", dingtalk_userid="d1"), "dingtalk_work")


def app_notice() -> NoticeRequested:
    data = notice("wecom_app").model_dump()
    data["recipient"] |= {"wecom_userid": "zs", "dingtalk_userid": "d1", "feishu_open_id": "ou_1"}
    return NoticeRequested.model_validate(data)


def test_the_message_carries_the_persons_ids_and_the_ack_link(templates: TemplateSet) -> None:
    channel = AppLike("wecom_app")
    n = app_notice()
    r = render_for(templates, n, channel, "https://duban.example/ack?t=x")
    assert r.markdown and r.text  # the card summarises the plain text
    message = build_message(n, channel, r, "k", {}, "https://duban.example/ack?t=x")
    assert (message.to_wecom_userid, message.to_dingtalk_userid, message.to_feishu_open_id) == (
        "zs",
        "d1",
        "ou_1",
    )
    assert message.ack_url == "https://duban.example/ack?t=x"


async def test_the_deliverer_gives_the_card_the_link_the_text_shows(
    templates: TemplateSet,
) -> None:
    links = iter(["https://duban.example/ack?t=first", "https://duban.example/ack?t=second"])
    app = AppLike("wecom_app")
    d = deliverer(templates, app, ack_url=lambda _: next(links))
    await d.deliver(app_notice())
    [message] = app.sent
    assert message.ack_url == "https://duban.example/ack?t=first"
    assert "t=first" in message.markdown and "t=first" in message.text
    assert message.to_wecom_userid == "zs"
