"""Issue 13, deliverable 2, end to end: a group notice published on the real Kafka reaches
the robot's stand-in once — even delivered twice — naming and @-mentioning everyone the
notice goes to, with no acknowledgement link, while personal notices keep theirs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from deploy.local.standins._base import FakeHttpProvider
from services.notifier.app import create_notifier
from services.notifier.render import sample_facts
from services.offsets import consumer_lag
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import wait_for
from tests.integration.deliverykit import (
    FAST_RETRY,
    notice_publisher,
    outcomes,
    receipts,
    use,
    use_dingtalk,
    use_feishu,
    use_wecom,
)
from tests.providers import FakeDingTalk, FakeFeishu, FakeWeCom

OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706"
MENTIONS: list[dict[str, Any]] = [
    {
        "person_id": "emergency-head",
        "name": "应急办主任",
        "role": "department_head",
        "mobile": "13800000010",
        "wecom_userid": "yingjiban",
        "dingtalk_userid": "manager0010",
        "feishu_open_id": OPEN_ID,
    },
    {
        "person_id": "aqb-duty",
        "name": "安委办值班室",
        "role": "committee_office",
        "mobile": "13800000001",
        "wecom_userid": None,
        "dingtalk_userid": None,
        "feishu_open_id": None,
    },
]
ROBOTS: dict[str, tuple[Callable[[], FakeHttpProvider], Callable[..., None], list[str]]] = {
    # robot → (stand-in, wiring, whom the platform notifies)
    "wecom": (FakeWeCom, use_wecom, ["yingjiban", "13800000001"]),
    "dingtalk": (FakeDingTalk, use_dingtalk, ["13800000001", "manager0010"]),
    "feishu": (FakeFeishu, use_feishu, [OPEN_ID]),  # a custom bot @-mentions by open_id only
}


def group_notice(robot: str) -> NoticeRequested:
    """The engine's group notice for the first sending of a circular."""
    facts = sample_facts("escalation", "circular", role="group")
    facts.update(recipient_name="白土镇安全生产工作群", occurrence=0, mentions=MENTIONS)
    return NoticeRequested(
        notice_id="H9:rule:circular",
        occurrence=0,
        kind="escalation",
        action="circular",
        subject="H9",
        due_at=datetime(2026, 9, 1, 2, 0, tzinfo=UTC),
        recipient=Recipient(person_id=f"group-{robot}", name="白土镇安全生产工作群", role="group"),
        channels=[ChannelPlan(channel=robot)],
        facts=facts,
    )


@pytest.mark.parametrize("robot", list(ROBOTS))
async def test_a_group_notice_is_posted_once_with_its_mentions_and_no_ack_link(
    robot: str, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, wire, mentioned = ROBOTS[robot]
    async with make() as fake:
        wire(monkeypatch, fake)
        use(monkeypatch, ACK_SECRET="group-posts-ack-secret")  # links on for everyone else
        item = group_notice(robot)
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(item)
            await wait_for(lambda: fake.accepted, what=f"the {robot} group post")
            await send(item)  # delivered again (at least once in): no second post

            async def consumed() -> bool:
                topics = [settings.topics.notice_requested]
                return (
                    await consumer_lag(settings.kafka_bootstrap, settings.notifier_group, topics)
                    == 0
                )

            await wait_for(consumed, what="the repeated notice consumed")
            found = await receipts(settings, 1)
    assert fake.rejections == [] and len(fake.requests) == len(fake.accepted) == 1
    [post] = fake.accepted
    assert post["_mentioned"] == mentioned and post["_not_mentioned"] == []
    sent = json.dumps(post, ensure_ascii=False)
    assert "请以下同志关注：应急办主任、安委办值班室" in sent
    assert "/ack?t=" not in sent and "请点击确认收到" not in sent
    # One receipt per delivery: the repeat publishes none (docs/reliability.md).
    assert outcomes(found) == [("notice.delivered", robot, 1)]
    assert {r["data"]["person_id"] for r in found} == {f"group-{robot}"}
