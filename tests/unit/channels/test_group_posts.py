"""Issue 13, deliverable 2: a group notice, rendered from the example templates and sent by
each robot adapter, reaches the robot's stand-in as one post that names and @-mentions
everyone the notice goes to, and carries no personal acknowledgement link."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from services.notifier.acklinks import AckLinks
from services.notifier.channels.base import Channel, OutboundMessage
from services.notifier.channels.dingtalk import DingTalkChannel, DingTalkSettings
from services.notifier.channels.feishu import FeishuChannel, FeishuSettings
from services.notifier.channels.wecom import WeComChannel, WeComSettings
from services.notifier.messages import build_message, render_for
from services.notifier.render import TemplateSet, sample_facts
from tests.fakes import FakeClock
from tests.providers import FakeDingTalk, FakeFeishu, FakeWeCom

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "config" / "example"
OPEN_ID_1 = "ou_7d8a6e6df7621556ce0d21922b676706"
OPEN_ID_3 = "ou_3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a88"
#: Everyone the notice goes to: one known everywhere, one by mobile only, one by ids only.
MENTIONS: list[dict[str, Any]] = [
    {
        "person_id": "emergency-head",
        "name": "应急办主任",
        "role": "department_head",
        "mobile": "13800000010",
        "wecom_userid": "yingjiban.zhuren",
        "dingtalk_userid": "manager0010",
        "feishu_open_id": OPEN_ID_1,
    },
    {
        "person_id": "aqb-duty",
        "name": "安委办值班室",
        "role": "committee_office",
        "mobile": "+86 138-0000-0001",
        "wecom_userid": None,
        "dingtalk_userid": None,
        "feishu_open_id": None,
    },
    {
        "person_id": "leader-safety",
        "name": "分管安全副镇长",
        "role": "leader",
        "mobile": None,
        "wecom_userid": "fuzhenzhang",
        "dingtalk_userid": "leader0003",
        "feishu_open_id": OPEN_ID_3,
    },
]
NAMES = ("应急办主任", "安委办值班室", "分管安全副镇长")


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def group_notice(channel: str, mentions: list[dict[str, Any]] = MENTIONS) -> NoticeRequested:
    """The engine's group notice for a circular: recipient ``group-<channel>``."""
    facts = sample_facts("escalation", "circular", role="group")
    facts.update(recipient_name="白土镇安全生产工作群", occurrence=0, mentions=mentions)
    return NoticeRequested(
        notice_id="HZ-7:major-overdue:circular",
        occurrence=0,
        kind="escalation",
        action="circular",
        subject="HZ-7",
        due_at=datetime(2026, 12, 2, 1, 0, tzinfo=UTC),
        recipient=Recipient(
            person_id=f"group-{channel}", name="白土镇安全生产工作群", role="group"
        ),
        channels=[ChannelPlan(channel=channel)],
        facts=facts,
    )


def message_for(
    templates: TemplateSet, channel: Channel, notice: NoticeRequested
) -> OutboundMessage:
    """What the notifier hands the adapter, with acknowledgement links switched on."""
    links = AckLinks(b"ack-secret", "https://duban.example.gov.cn", FakeClock(notice.due_at))
    ack_url = links.url_for(notice)
    rendered = render_for(templates, notice, channel, ack_url)
    return build_message(notice, channel, rendered, "HZ-7:0:group-x:x", {})


def assert_group_post(text: str) -> None:
    assert "各位同志" in text and "请以下同志关注：应急办主任、安委办值班室、分管安全副镇长" in text
    assert "逾期未整改通报" in text and "危化品仓库可燃气体报警装置失效" in text
    assert "请点击确认收到" not in text and "/ack?t=" not in text


# ------------------------------------------------------------------ WeCom


async def test_wecom_mentions_by_userid_and_mobile_in_one_text_post(
    templates: TemplateSet, fake_wecom: FakeWeCom
) -> None:
    ch = WeComChannel(WeComSettings(webhook_url=fake_wecom.webhook_url))
    message = message_for(templates, ch, group_notice("wecom"))
    await ch.send(message)
    await ch.aclose()
    [body] = fake_wecom.accepted
    assert fake_wecom.rejections == [] and body["msgtype"] == "text"  # a mobile-only person
    assert body["text"]["mentioned_list"] == ["yingjiban.zhuren", "fuzhenzhang"]
    assert body["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert body["_mentioned"] == ["yingjiban.zhuren", "fuzhenzhang", "13800000001"]
    assert body["_not_mentioned"] == []
    assert_group_post(body["text"]["content"])


async def test_wecom_markdown_when_everyone_has_a_userid(
    templates: TemplateSet, fake_wecom: FakeWeCom
) -> None:
    ch = WeComChannel(WeComSettings(webhook_url=fake_wecom.webhook_url))
    notice = group_notice("wecom", [MENTIONS[0], MENTIONS[2]])
    await ch.send(message_for(templates, ch, notice))
    await ch.aclose()
    [body] = fake_wecom.accepted
    content = body["markdown"]["content"]
    assert body["msgtype"] == "markdown" and "mentioned_list" not in body["markdown"]
    assert content.endswith("\n\n<@yingjiban.zhuren> <@fuzhenzhang>")
    assert body["_mentioned"] == ["yingjiban.zhuren", "fuzhenzhang"]
    assert "请以下同志关注：应急办主任、分管安全副镇长" in content and "/ack?t=" not in content


# ------------------------------------------------------------------ DingTalk


async def test_dingtalk_mentions_by_userid_else_mobile_with_the_at_in_the_text(
    templates: TemplateSet, fake_dingtalk: FakeDingTalk
) -> None:
    ch = DingTalkChannel(
        DingTalkSettings(webhook_url=fake_dingtalk.webhook_url, secret=fake_dingtalk.secret)
    )
    await ch.send(message_for(templates, ch, group_notice("dingtalk")))
    await ch.aclose()
    [body] = fake_dingtalk.accepted
    assert fake_dingtalk.rejections == [] and body["msgtype"] == "markdown"
    assert body["at"] == {
        "atMobiles": ["13800000001"],
        "atUserIds": ["manager0010", "leader0003"],
        "isAtAll": False,
    }
    text = body["markdown"]["text"]
    assert text.endswith("@manager0010 @leader0003 @13800000001")
    assert body["_mentioned"] == ["13800000001", "manager0010", "leader0003"]
    assert body["_not_mentioned"] == []
    assert_group_post(text)


# ------------------------------------------------------------------ Feishu


async def test_feishu_card_mentions_everyone_with_an_open_id(
    templates: TemplateSet, fake_feishu: FakeFeishu
) -> None:
    ch = FeishuChannel(
        FeishuSettings(webhook_url=fake_feishu.webhook_url, secret=fake_feishu.secret)
    )
    await ch.send(message_for(templates, ch, group_notice("feishu")))
    await ch.aclose()
    [body] = fake_feishu.accepted
    assert fake_feishu.rejections == [] and body["msg_type"] == "interactive"
    body_md, mentions = body["card"]["elements"]
    assert mentions == {
        "tag": "markdown",
        "content": f"<at id={OPEN_ID_1}></at> <at id={OPEN_ID_3}></at>",
    }
    assert body["_mentioned"] == [OPEN_ID_1, OPEN_ID_3] and body["_not_mentioned"] == []
    assert_group_post(body_md["content"])  # the one without an open_id is still named


# ------------------------------------------------------------------ every robot


@pytest.mark.parametrize("robot", ["wecom", "dingtalk", "feishu"])
def test_a_group_post_has_no_ack_link_even_with_links_on(
    templates: TemplateSet, robot: str
) -> None:
    notice = group_notice(robot)
    links = AckLinks(b"ack-secret", "https://duban.example.gov.cn", FakeClock(notice.due_at))
    assert links.url_for(notice) is None
    person = notice.model_copy(update={"recipient": Recipient(person_id="p1", role="department")})
    assert links.url_for(person) is not None  # personal notices still get theirs
    # Even handed a link, the group side never shows it.
    out = templates.render(
        "escalation", "circular", notice.facts, "https://duban.example.gov.cn/ack?t=x", role="group"
    )
    for body in (out.text, out.markdown, out.html):
        assert "ack?t=x" not in body and "请点击确认收到" not in body


def test_mentions_reach_only_group_posts_on_chat_channels(templates: TemplateSet) -> None:
    ch = DingTalkChannel(DingTalkSettings(webhook_url="https://oapi.dingtalk.com/robot/send"))
    group = message_for(templates, ch, group_notice("dingtalk"))
    assert [m.person_id for m in group.mentions] == ["emergency-head", "aqb-duty", "leader-safety"]
    assert (
        group.mentions[1].mobile == "+86 138-0000-0001" and group.mentions[1].wecom_userid is None
    )
    personal = group_notice("dingtalk").model_copy(
        update={"recipient": Recipient(person_id="p1", role="department")}
    )
    assert message_for(templates, ch, personal).mentions == ()


def test_bad_mention_items_are_skipped_not_fatal(templates: TemplateSet) -> None:
    ch = FeishuChannel(FeishuSettings(webhook_url="https://open.feishu.cn/open-apis/bot/v2/hook/x"))
    odd: list[Any] = ["not a person", 7, {"name": "张三", "mobile": 13800000000}, MENTIONS[0]]
    message = message_for(templates, ch, group_notice("feishu", odd))
    assert [m.name for m in message.mentions] == ["张三", "应急办主任"]
    assert message.mentions[0].mobile is None  # not text: counted as missing
    assert "请以下同志关注：张三、应急办主任" in (message.markdown or "")
